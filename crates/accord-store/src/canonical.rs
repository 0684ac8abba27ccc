//! The audit log's canonical encoding and hash chain, and canonical JSON.
//!
//! Both are specified in `docs/storage.md` so an auditor can re-implement verification
//! without this code. Changing anything here breaks every existing chain: add a new
//! version tag instead.

use sha2::{Digest, Sha256};

/// Version tag at the start of every encoded entry.
pub(crate) const ENTRY_TAG: &str = "accord.audit.v1";

/// `prev_hash` of the first entry.
pub(crate) const GENESIS: [u8; 32] = [0u8; 32];

/// One audit entry as stored, in the fields the hash covers. Instants are unix
/// microseconds (UTC); lists are in stored order; `detail` is the stored canonical JSON text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntryFields {
    pub occurred_at_us: i64,
    pub event_kind: String,
    pub exchange_id: Option<uuid::Uuid>,
    pub actor_agency: Option<String>,
    pub actor_subject: String,
    pub actor_roles: Vec<String>,
    pub requesting_agency: Option<String>,
    pub holding_agency: Option<String>,
    pub purpose: Option<String>,
    pub state_from: Option<String>,
    pub state_to: Option<String>,
    pub subject_hashes: Vec<String>,
    pub categories: Vec<String>,
    pub content_sha256: Option<String>,
    pub content_size: Option<u64>,
    pub detail: String,
}

/// A borrowed view of an entry's hashed fields, so entries held as [`EntryFields`] (the
/// store's rows) and as public `AuditEntry` values (an export) hash through one encoder.
pub(crate) struct EntryRef<'a, C: AsRef<str>> {
    pub occurred_at_us: i64,
    pub event_kind: &'a str,
    pub exchange_id: Option<uuid::Uuid>,
    pub actor_agency: Option<&'a str>,
    pub actor_subject: &'a str,
    pub actor_roles: &'a [String],
    pub requesting_agency: Option<&'a str>,
    pub holding_agency: Option<&'a str>,
    pub purpose: Option<&'a str>,
    pub state_from: Option<&'a str>,
    pub state_to: Option<&'a str>,
    pub subject_hashes: &'a [String],
    pub categories: &'a [C],
    pub content_sha256: Option<&'a str>,
    pub content_size: Option<u64>,
    pub detail: Detail<'a>,
}

/// The detail as stored canonical text, or as a value to encode canonically on the fly
/// (the same bytes: the stored text was produced by [`canonical_json`]).
pub(crate) enum Detail<'a> {
    Text(&'a str),
    Json(&'a serde_json::Value),
}

impl EntryFields {
    pub(crate) fn as_ref(&self) -> EntryRef<'_, String> {
        EntryRef {
            occurred_at_us: self.occurred_at_us,
            event_kind: &self.event_kind,
            exchange_id: self.exchange_id,
            actor_agency: self.actor_agency.as_deref(),
            actor_subject: &self.actor_subject,
            actor_roles: &self.actor_roles,
            requesting_agency: self.requesting_agency.as_deref(),
            holding_agency: self.holding_agency.as_deref(),
            purpose: self.purpose.as_deref(),
            state_from: self.state_from.as_deref(),
            state_to: self.state_to.as_deref(),
            subject_hashes: &self.subject_hashes,
            categories: &self.categories,
            content_sha256: self.content_sha256.as_deref(),
            content_size: self.content_size,
            detail: Detail::Text(&self.detail),
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Lengths are u32 big-endian: no field comes near 4 GiB, and a fixed width keeps the
    // encoding unambiguous without escaping.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

fn put_list<S: AsRef<str>>(out: &mut Vec<u8>, items: &[S]) {
    out.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for i in items {
        put_str(out, i.as_ref());
    }
}

/// Appends the canonical encoding of entry `sequence` to `out`.
pub(crate) fn encode_entry<C: AsRef<str>>(out: &mut Vec<u8>, sequence: u64, e: &EntryRef<'_, C>) {
    put_str(out, ENTRY_TAG);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&e.occurred_at_us.to_be_bytes());
    put_str(out, e.event_kind);
    match e.exchange_id {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
    }
    put_opt_str(out, e.actor_agency);
    put_str(out, e.actor_subject);
    put_list(out, e.actor_roles);
    put_opt_str(out, e.requesting_agency);
    put_opt_str(out, e.holding_agency);
    put_opt_str(out, e.purpose);
    put_opt_str(out, e.state_from);
    put_opt_str(out, e.state_to);
    put_list(out, e.subject_hashes);
    put_list(out, e.categories);
    put_opt_str(out, e.content_sha256);
    match e.content_size {
        None => out.push(0),
        Some(n) => {
            out.push(1);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    match e.detail {
        Detail::Text(t) => put_str(out, t),
        Detail::Json(v) => {
            // Length placeholder, patched once the canonical text is written.
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            write_canonical(out, v);
            let len = (out.len() - at - 4) as u32;
            out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
}

/// `SHA-256(prev_hash || canonical_encoding(entry))`. `buf` is scratch space reused across
/// calls so verifying a page allocates once.
pub(crate) fn entry_hash(
    buf: &mut Vec<u8>,
    prev_hash: &[u8; 32],
    sequence: u64,
    e: &EntryFields,
) -> [u8; 32] {
    entry_hash_ref(buf, prev_hash, sequence, &e.as_ref())
}

pub(crate) fn entry_hash_ref<C: AsRef<str>>(
    buf: &mut Vec<u8>,
    prev_hash: &[u8; 32],
    sequence: u64,
    e: &EntryRef<'_, C>,
) -> [u8; 32] {
    buf.clear();
    buf.extend_from_slice(prev_hash);
    encode_entry(buf, sequence, e);
    Sha256::digest(&buf[..]).into()
}

/// The message a checkpoint signs: `sequence` (u64 big-endian) followed by the 32-byte head
/// hash.
pub(crate) fn checkpoint_message(sequence: u64, head_hash: &[u8; 32]) -> [u8; 40] {
    let mut m = [0u8; 40];
    m[..8].copy_from_slice(&sequence.to_be_bytes());
    m[8..].copy_from_slice(head_hash);
    m
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace,
/// strings and numbers as serde_json writes them. Used for the audit `detail` and for the
/// response content whose SHA-256 is audited, so the digest does not depend on map order.
pub(crate) fn canonical_json(v: &serde_json::Value) -> String {
    let mut out = Vec::new();
    write_canonical(&mut out, v);
    // Only valid UTF-8 was written: JSON punctuation and serde_json's own output.
    String::from_utf8(out).unwrap_or_default()
}

fn write_canonical(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            // serde_json's default map is already ordered by key; sort only when a build
            // with `preserve_order` hands over insertion order.
            if map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b) {
                write_object(out, map.iter());
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                write_object(out, entries.into_iter());
            }
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, other);
        }
    }
}

fn write_object<'a>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (&'a String, &'a serde_json::Value)>,
) {
    out.push(b'{');
    for (i, (k, val)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // Writing a string or a scalar into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        write_canonical(out, val);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> EntryFields {
        EntryFields {
            occurred_at_us: 1_700_000_000_000_000,
            event_kind: "submitted".into(),
            exchange_id: Some(uuid::Uuid::nil()),
            actor_agency: Some("police".into()),
            actor_subject: "pc-1".into(),
            actor_roles: vec!["practitioner".into()],
            requesting_agency: Some("police".into()),
            holding_agency: Some("council".into()),
            purpose: Some("s47".into()),
            state_from: None,
            state_to: Some("submitted".into()),
            subject_hashes: vec!["ab".into()],
            categories: vec!["health".into()],
            content_sha256: None,
            content_size: None,
            detail: "{}".into(),
        }
    }

    #[test]
    fn json_detail_hashes_like_its_stored_text() {
        let v = serde_json::json!({"b": [1, 2.5, "x\"y"], "a": {"z": null, "é": true}});
        let text = canonical_json(&v);
        let mut e = sample();
        e.detail = text;
        let mut buf = Vec::new();
        let from_text = entry_hash(&mut buf, &GENESIS, 3, &e);
        let mut r = e.as_ref();
        r.detail = Detail::Json(&v);
        assert_eq!(from_text, entry_hash_ref(&mut buf, &GENESIS, 3, &r));
    }

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{ "b": [1, {"z": 1, "a": "x"}], "a": null }"#).unwrap();
        assert_eq!(canonical_json(&v), r#"{"a":null,"b":[1,{"a":"x","z":1}]}"#);
    }

    #[test]
    fn every_field_changes_the_hash() {
        let mut buf = Vec::new();
        let base = entry_hash(&mut buf, &GENESIS, 1, &sample());
        assert_ne!(base, entry_hash(&mut buf, &GENESIS, 2, &sample()));
        let mut other = GENESIS;
        other[0] = 1;
        assert_ne!(base, entry_hash(&mut buf, &other, 1, &sample()));
        let mut e = sample();
        e.actor_roles.push("x".into());
        assert_ne!(base, entry_hash(&mut buf, &GENESIS, 1, &e));
        // Moving a byte between adjacent fields must change the encoding.
        let mut a = sample();
        a.actor_subject = "pc-1x".into();
        a.actor_roles = vec![];
        let mut b = sample();
        b.actor_subject = "pc-1".into();
        b.actor_roles = vec!["x".into()];
        assert_ne!(
            entry_hash(&mut buf, &GENESIS, 1, &a),
            entry_hash(&mut buf, &GENESIS, 1, &b)
        );
    }

    #[test]
    fn encoding_is_stable() {
        // Pins the v1 encoding: if this changes, existing chains stop verifying.
        let mut buf = Vec::new();
        let h = entry_hash(&mut buf, &GENESIS, 1, &sample());
        // Known answer, computed independently with the Python reference in docs/storage.md.
        assert_eq!(buf.len(), 32 + 182);
        assert_eq!(
            hex::encode(h),
            "0116328e57ee623d46f776f4dafc0157a4d2f00da55f38417889bed7ed5629f9"
        );
    }
}
