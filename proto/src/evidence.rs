//! Evidence a third party can check without trusting the collector (`docs/evidence.md`): the canonical encoding
//! of a result, the hash chain over an agent's results, and the statements an agent signs with its Ed25519 key.
//!
//! - **Canonical encoding**: the result's JSON record (`docs/results.md`) in the JSON Canonicalization Scheme of
//!   RFC 8785 (JCS), UTF-8; the chain value is not part of it ([`canonical`], [`canonical_value`]).
//! - **Chain**: `chain(seq) = SHA-256(chain(seq - 1) ‖ SHA-256(canonical(result seq)))`. Hashing the result
//!   first lets a document show a result only by its digest (another vendor's, say) and the chain still verify.
//!   Before seq 1, and before a result whose predecessor carries no chain value (spooled by an agent older than
//!   chaining), the previous value is [`GENESIS`], 32 zero bytes.
//! - **Statements**: a checkpoint `{"statement":"checkpoint","agent_id","seq","chain"}` and a gap
//!   `{"statement":"gap","agent_id","first_seq","last_seq","reason","chain_before","chain_after"}` (chain values
//!   in lowercase hex; `chain_before` and `chain_after` left out when unknown), signed as their JCS bytes.
//! - **Keys**: written `ed25519:` and the standard base64 of the 32-byte public key.
//!
//! Chain values and signatures travel as raw bytes in the protocol; [`Chain`] is one checked for its length.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::Serialize;
use serde_json::Value;

use crate::record::ResultRecord;
use crate::v1;

/// A chain value: SHA-256, 32 bytes.
pub type Chain = [u8; 32];

/// The chain value before an agent's first chained result.
pub const GENESIS: Chain = [0; 32];

/// How a key is written: this prefix, then the base64 of its 32 bytes.
const KEY_PREFIX: &str = "ed25519:";

/// The canonical encoding of `record`: its JSON in RFC 8785 form.
pub fn canonical(record: &ResultRecord) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_value(record).map(|value| canonical_value(&value))
}

/// `value` in RFC 8785 form: no whitespace, object members sorted by their UTF-16 code units, strings escaped as
/// serde_json escapes them (as ECMAScript's `JSON.stringify` does), numbers as ECMAScript writes them (ryu-js).
/// Written here rather than with a general JCS serializer because that one cost ingest a fifth of its throughput
/// (`bench_ingest`, docs/benchmarks.md); the tests hold it to `serde_json_canonicalizer` on arbitrary values. Integers beyond 2^53 (never a seq in practice) are written
/// exactly, where RFC 8785 would round them.
pub fn canonical_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => match number.as_f64().filter(|_| number.is_f64()) {
            Some(float) => out.extend_from_slice(ryu_js::Buffer::new().format(float).as_bytes()),
            None => out.extend_from_slice(number.to_string().as_bytes()),
        },
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
            sorted.sort_by(|(one, _), (other, _)| one.encode_utf16().cmp(other.encode_utf16()));
            out.push(b'{');
            for (index, (key, member)) in sorted.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_canonical(out, member);
            }
            out.push(b'}');
        }
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

/// A result's digest: SHA-256 of its canonical encoding.
pub fn result_digest(canonical: &[u8]) -> Chain {
    sha256(&[canonical])
}

/// The chain value after `previous` for a result whose digest is `digest`.
pub fn link_digest(previous: &Chain, digest: &Chain) -> Chain {
    sha256(&[previous, digest])
}

/// The chain value after `previous` for a result whose canonical encoding is `canonical`.
pub fn link(previous: &Chain, canonical: &[u8]) -> Chain {
    link_digest(previous, &result_digest(canonical))
}

fn sha256(parts: &[&[u8]]) -> Chain {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let mut hash = GENESIS;
    hash.copy_from_slice(context.finish().as_ref());
    hash
}

/// The chain value a protobuf result carries: `None` when it carries none (older agents), an error when it has
/// the wrong length.
pub fn carried_chain(result: &v1::Result) -> Result<Option<Chain>, String> {
    chain_from_bytes(&result.chain).map_err(|problem| format!("chain: {problem}"))
}

/// A chain value from raw bytes: `None` for none, an error unless there are exactly 32.
pub fn chain_from_bytes(bytes: &[u8]) -> Result<Option<Chain>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    Chain::try_from(bytes).map(Some).map_err(|_| format!("{} bytes; a chain value has 32", bytes.len()))
}

/// A chain value in lowercase hex, as documents and statements write it.
pub fn chain_hex(chain: &Chain) -> String {
    hex::encode(chain)
}

/// A chain value from its hex form.
pub fn parse_chain_hex(text: &str) -> Result<Chain, String> {
    let mut chain = GENESIS;
    hex::decode_to_slice(text, &mut chain).map_err(|error| format!("{text:?} is not 64 hex digits: {error}"))?;
    Ok(chain)
}

/// Something an agent signs: its words are the canonical JSON of this value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "statement", rename_all = "snake_case")]
pub enum Statement {
    /// The agent's chain reached `chain` at `seq`.
    Checkpoint {
        /// The signing agent.
        agent_id: String,
        /// The result the checkpoint covers.
        seq: u64,
        /// That result's chain value.
        #[serde(serialize_with = "serialize_chain")]
        chain: Chain,
    },
    /// The agent dropped results `first_seq..=last_seq` before it could deliver them.
    Gap {
        /// The signing agent.
        agent_id: String,
        /// First dropped sequence number.
        first_seq: u64,
        /// Last dropped sequence number (inclusive).
        last_seq: u64,
        /// Why (`spool_full`, `spool_corrupt`).
        reason: String,
        /// The chain value before `first_seq`, when the agent still knows it.
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_optional_chain")]
        chain_before: Option<Chain>,
        /// The chain value of the last dropped result, when the agent still knows it.
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "serialize_optional_chain")]
        chain_after: Option<Chain>,
    },
}

impl Statement {
    /// The bytes that are signed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        // Only strings and integers: converting them to a JSON value cannot fail.
        serde_json::to_value(self).map(|value| canonical_value(&value)).unwrap_or_default()
    }
}

fn serialize_chain<S: serde::Serializer>(chain: &Chain, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&chain_hex(chain))
}

fn serialize_optional_chain<S: serde::Serializer>(chain: &Option<Chain>, serializer: S) -> Result<S::Ok, S::Error> {
    match chain {
        Some(chain) => serialize_chain(chain, serializer),
        None => serializer.serialize_none(),
    }
}

/// An agent's Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicKey([u8; 32]);

/// A public key that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an agent key ({0}); write `ed25519:` and the base64 of its 32 bytes, as `slaprobe-agent --print-public-key` prints it"
)]
pub struct KeyError(String);

impl PublicKey {
    /// The key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        <[u8; 32]>::try_from(bytes).map(Self).map_err(|_| KeyError(format!("{} bytes, not 32", bytes.len())))
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `signature` is this key's signature of `statement`.
    pub fn verifies(&self, statement: &Statement, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0).verify(&statement.signed_bytes(), signature).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{KEY_PREFIX}{}", BASE64.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, formatter)
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let encoded =
            text.trim().strip_prefix(KEY_PREFIX).ok_or_else(|| KeyError("no `ed25519:` prefix".to_owned()))?;
        let bytes = BASE64.decode(encoded).map_err(|error| KeyError(format!("bad base64: {error}")))?;
        Self::from_bytes(&bytes)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    use super::*;

    fn record() -> ResultRecord {
        serde_json::from_str(
            r#"{"check_id":"acme-api","region":"eu-west","agent_id":"agent-eu-1","seq":1,
            "started_at":"2026-02-01T00:00:05.001234567Z","duration_ms":12.5,"ok":false,"error_kind":"connect",
            "error":"connect: connection refused","phases_ms":{"dns":0.000123,"connect":1e-7}}"#,
        )
        .unwrap()
    }

    #[test]
    fn canonical_form_sorts_members_and_writes_numbers_as_ecmascript_does() {
        let text = String::from_utf8(canonical(&record()).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"agent_id":"agent-eu-1","check_id":"acme-api","duration_ms":12.5,"error":"connect: connection refused","error_kind":"connect","ok":false,"phases_ms":{"connect":1e-7,"dns":0.000123},"region":"eu-west","seq":1,"started_at":"2026-02-01T00:00:05.001234567Z"}"#
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|number| Value::from(number % (1 << 53))),
            any::<f64>().prop_filter("finite", |float| float.is_finite()).prop_map(Value::from),
            (-30i32..30, 1u32..1_000_000)
                .prop_map(|(exponent, digits)| Value::from(f64::from(digits) * 10f64.powi(exponent))),
            "(?s).{0,12}".prop_map(Value::from),
            "[\\u{0}-\\u{1f}\"\\\\/\\u{7f}é€😀a-z]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z_é€😀\\u{e000}]{0,6}", inner, 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn the_canonical_form_is_rfc_8785_as_a_reference_implementation_writes_it(value in json_value()) {
            let reference = serde_json_canonicalizer::to_vec(&value).unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8(canonical_value(&value)).unwrap(),
                String::from_utf8(reference).unwrap()
            );
        }
    }

    #[test]
    fn the_same_record_parsed_from_any_json_spelling_has_one_canonical_form() {
        let spelled_otherwise: ResultRecord = serde_json::from_str(
            r#"{"ok":false,"seq":1,"region":"eu-west","check_id":"acme-api","agent_id":"agent-eu-1",
            "started_at":"2026-02-01T00:00:05.001234567Z","duration_ms":12.50,"error_kind":"connect",
            "error":"connect: connection refused","phases_ms":{"dns":1.23e-4,"connect":0.0000001}}"#,
        )
        .unwrap();
        assert_eq!(canonical(&spelled_otherwise).unwrap(), canonical(&record()).unwrap());
    }

    #[test]
    fn the_chain_links_each_result_to_all_before_it() {
        let first = link(&GENESIS, &canonical(&record()).unwrap());
        // Computed independently, with Python's `rfc8785` package (Trail of Bits) and `hashlib`:
        // `digest = hashlib.sha256(rfc8785.dumps(json.loads(line))).digest()`,
        // `hashlib.sha256(bytes(32) + digest).hexdigest()`.
        let digest = result_digest(&canonical(&record()).unwrap());
        assert_eq!(chain_hex(&digest), "58a722f28235471b225fce0acabc07cbda635a661a056f5e077c39b0bcce8822");
        assert_eq!(chain_hex(&first), "1be3b201ca878daa1e901255e4c3c5ef65fe0504224d94787945cc9be4fbec06");
        let mut second = record();
        second.seq = Some(2);
        let linked = link(&first, &canonical(&second).unwrap());
        assert_ne!(linked, link(&GENESIS, &canonical(&second).unwrap()), "the previous value counts");
        assert_eq!(parse_chain_hex(&chain_hex(&linked)).unwrap(), linked);
        assert!(parse_chain_hex("00").is_err());
    }

    #[test]
    fn statements_are_signed_as_canonical_json_and_verify_only_unaltered() {
        let statement = Statement::Checkpoint { agent_id: "agent-eu-1".to_owned(), seq: 1000, chain: [0xab; 32] };
        assert_eq!(
            String::from_utf8(statement.signed_bytes()).unwrap(),
            format!(r#"{{"agent_id":"agent-eu-1","chain":"{}","seq":1000,"statement":"checkpoint"}}"#, "ab".repeat(32))
        );
        let gap = Statement::Gap {
            agent_id: "a".to_owned(),
            first_seq: 5,
            last_seq: 9,
            reason: "spool_full".to_owned(),
            chain_before: Some([1; 32]),
            chain_after: None,
        };
        assert_eq!(
            String::from_utf8(gap.signed_bytes()).unwrap(),
            format!(
                r#"{{"agent_id":"a","chain_before":"{}","first_seq":5,"last_seq":9,"reason":"spool_full","statement":"gap"}}"#,
                "01".repeat(32)
            )
        );

        let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(document.as_ref()).unwrap();
        let key = PublicKey::from_bytes(pair.public_key().as_ref()).unwrap();
        let signature = pair.sign(&statement.signed_bytes());
        assert!(key.verifies(&statement, signature.as_ref()));
        let moved = Statement::Checkpoint { agent_id: "agent-eu-1".to_owned(), seq: 1001, chain: [0xab; 32] };
        assert!(!key.verifies(&moved, signature.as_ref()));
        assert!(!key.verifies(&gap, signature.as_ref()));
    }

    #[test]
    fn keys_read_back_as_written_and_bad_ones_are_named() {
        let key = PublicKey::from_bytes(&[7; 32]).unwrap();
        let written = key.to_string();
        assert_eq!(written, "ed25519:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=");
        assert_eq!(written.parse::<PublicKey>().unwrap(), key);
        assert!("BwcH".parse::<PublicKey>().unwrap_err().to_string().contains("no `ed25519:` prefix"));
        assert!("ed25519:BwcH".parse::<PublicKey>().unwrap_err().to_string().contains("3 bytes, not 32"));
        assert!("ed25519:!!".parse::<PublicKey>().unwrap_err().to_string().contains("bad base64"));
    }
}
