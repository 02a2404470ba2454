//! `agents[].client_cert`: binds an agent to the client certificate its sessions present, so that a token
//! copied to another host, or another agent's certificate, is refused. The certificate's subject common name
//! (or one of its DNS names) and/or the SHA-256 of its public key (SubjectPublicKeyInfo, DER) must match what
//! is written; the CA in `listen.tls.client_ca_file` has verified the certificate before.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::digest::hex;

/// What an agent's client certificate must be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertBinding {
    /// The subject's common name, or one of the certificate's DNS names (`agent-eu-1`, compared without regard
    /// to ASCII case, as DNS names are); survives renewal.
    #[serde(default)]
    pub name: Option<String>,
    /// Lower-case hex SHA-256 of the certificate's SubjectPublicKeyInfo (DER): `openssl x509 -in agent.crt
    /// -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`; pins the key.
    #[serde(default)]
    pub spki_sha256: Option<String>,
}

/// What the leaf certificate a session presented says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCertificate {
    /// The subject's common names and the DNS names of its subjectAltName.
    pub names: Vec<String>,
    /// Lower-case hex SHA-256 of its SubjectPublicKeyInfo.
    pub spki_sha256: String,
}

impl PresentedCertificate {
    /// Reads the certificate `der`; `None` when it does not parse (rustls accepted it, so this is unexpected).
    pub fn read(der: &[u8]) -> Option<Self> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let mut names: Vec<String> =
            certificate.subject().iter_common_name().filter_map(|name| name.as_str().ok().map(str::to_owned)).collect();
        if let Ok(Some(alternatives)) = certificate.subject_alternative_name() {
            for name in &alternatives.value.general_names {
                if let GeneralName::DNSName(dns) = name {
                    names.push((*dns).to_owned());
                }
            }
        }
        let spki_sha256 = hex(&Sha256::digest(certificate.public_key().raw));
        Some(Self { names, spki_sha256 })
    }
}

impl ClientCertBinding {
    /// What is wrong with this binding written at `at` (normalising the hash to lower case);
    /// `certificates_asked` says whether the listener asks agents for a verified client certificate at all.
    pub fn problems(&mut self, at: &str, certificates_asked: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.is_none() && self.spki_sha256.is_none() {
            problems.push(format!("{at}: give `name`, `spki_sha256` or both"));
        }
        if self.name.as_deref().is_some_and(|name| name.trim().is_empty()) {
            problems.push(format!("{at}.name: empty"));
        }
        if let Some(hash) = &mut self.spki_sha256 {
            hash.make_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
                problems.push(format!("{at}.spki_sha256: not a hex SHA-256 (64 hex digits)"));
            }
        }
        if !certificates_asked {
            problems.push(format!(
                "{at}: needs listen.tls.client_ca_file; without it agents present no certificate to bind to"
            ));
        }
        problems
    }

    /// Whether `presented` is the certificate this binding names.
    pub fn admits(&self, presented: &PresentedCertificate) -> bool {
        let name_matches =
            self.name.as_ref().is_none_or(|name| presented.names.iter().any(|given| given.eq_ignore_ascii_case(name)));
        let key_matches = self.spki_sha256.as_ref().is_none_or(|hash| *hash == presented.spki_sha256);
        name_matches && key_matches
    }
}
