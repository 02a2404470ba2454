//! `enrolments:`: fleet tokens with which agents join under their own names. An agent presenting an enrolment
//! token becomes the agent its Hello names (`agent_id` from its config, or its host name), in the enrolment's
//! region and no other; the collector records it and admits it once approved, by an admin or at once where the
//! enrolment says `auto_approve: true`. One Kubernetes DaemonSet or one image for a fleet of edge hosts so needs
//! one token per region, not one per host, and each host still has its own identity, key and revocation.

use serde::Deserialize;
use slaprobe_checks::is_valid_label;

use super::{AgentIdentity, is_sha256_hex};

/// One `enrolments:` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    /// Its name (`k8s-eu-west`), recorded with each agent that enrolled with it.
    pub name: String,
    /// Lower-case hex SHA-256 of the fleet token.
    pub token_sha256: String,
    /// The region every agent enrolling with it measures from.
    pub region: String,
    /// Admit agents at their first session, without waiting for an admin (default: wait).
    #[serde(default)]
    pub auto_approve: bool,
}

/// The problems of `entries` (their hashes made lower-case meanwhile): names and regions that are no labels,
/// hashes that are none, a name given twice, a token that is also another entry's or an agent's.
pub(super) fn enrolment_problems(entries: &mut [Enrolment], agents: &[AgentIdentity]) -> Vec<String> {
    let mut problems = Vec::new();
    for index in 0..entries.len() {
        let (earlier, rest) = entries.split_at_mut(index);
        let entry = &mut rest[0];
        let at = format!("enrolments[{index}]");
        entry.token_sha256.make_ascii_lowercase();
        if !is_valid_label(&entry.name) {
            problems.push(format!("{at}.name: {:?} must match [a-z0-9._-]{{1,64}}", entry.name));
        }
        if !is_valid_label(&entry.region) {
            problems.push(format!("{at}.region: {:?} must match [a-z0-9._-]{{1,64}}", entry.region));
        }
        if !is_sha256_hex(&entry.token_sha256) {
            problems.push(format!("{at}.token_sha256: not a hex SHA-256 (64 hex digits)"));
        }
        if earlier.iter().any(|other| other.name == entry.name) {
            problems.push(format!("{at}.name: duplicate name {:?}", entry.name));
        }
        if earlier.iter().any(|other| other.token_sha256 == entry.token_sha256) {
            problems.push(format!("{at}.token_sha256: the same token as an earlier enrolment"));
        }
        if let Some(agent) = agents.iter().find(|agent| agent.token_sha256 == entry.token_sha256) {
            problems.push(format!("{at}.token_sha256: the same token as agent {:?}", agent.agent_id));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::{Enrolment, enrolment_problems};
    use crate::config::AgentIdentity;

    fn entry(name: &str, hash: &str) -> Enrolment {
        Enrolment { name: name.into(), token_sha256: hash.into(), region: "eu-west".into(), auto_approve: false }
    }

    #[test]
    fn names_tokens_and_regions_are_checked_with_their_path() {
        let one = "A".repeat(64);
        let agent = AgentIdentity {
            agent_id: "edge-1".into(),
            region: "eu-west".into(),
            token_sha256: "b".repeat(64),
            public_key: None,
            client_cert: None,
            enrolment: None,
        };
        let mut entries =
            vec![entry("fleet", &one), entry("fleet", &"a".repeat(64)), entry("Bad Name", &"b".repeat(64))];
        entries[2].region = String::new();
        let problems = enrolment_problems(&mut entries, &[agent]);
        assert_eq!(entries[0].token_sha256, "a".repeat(64), "hashes are kept lower-case");
        assert_eq!(
            problems,
            [
                "enrolments[1].name: duplicate name \"fleet\"",
                "enrolments[1].token_sha256: the same token as an earlier enrolment",
                "enrolments[2].name: \"Bad Name\" must match [a-z0-9._-]{1,64}",
                "enrolments[2].region: \"\" must match [a-z0-9._-]{1,64}",
                "enrolments[2].token_sha256: the same token as agent \"edge-1\"",
            ]
        );
        assert!(enrolment_problems(&mut [entry("fleet", &"c".repeat(64))], &[]).is_empty());
        assert_eq!(
            enrolment_problems(&mut [entry("fleet", "abc")], &[]),
            ["enrolments[0].token_sha256: not a hex SHA-256 (64 hex digits)"]
        );
    }
}
