//! Verifying the audit chain: `Store::audit_verify` walks the stored log and its signed
//! checkpoints; [`verify_entries`] and [`compute_entry_hash`] check exported entries without
//! the database; [`bench_support`] times the walk's hashing without the reads.

use crate::canonical::{self, canonical_json, entry_hash, GENESIS};
use crate::crypto::Keys;
use crate::db::dispatch;
use crate::records::{self, to_us, AuditRecord};
use crate::{AuditEntry, Result, Store, StoreError, VerifyReport};

/// Rows read per page when verifying the chain.
const VERIFY_PAGE: i64 = 10_000;

impl Store {
    /// Walks the whole chain and every checkpoint; names the first entry that does not match.
    pub async fn audit_verify(&self) -> Result<VerifyReport> {
        // Checkpoints first, so the walk keeps only the hashes they need (not one per entry).
        let checkpoints = dispatch!(&self.inner.db, checkpoints())?;
        let mut v = ChainVerifier {
            wanted: checkpoints
                .iter()
                .filter_map(|c| u64::try_from(c.sequence).ok())
                .collect(),
            ..ChainVerifier::default()
        };
        let mut next: i64 = 1;
        'pages: loop {
            let rows = dispatch!(&self.inner.db, audit_range(next, i64::MAX, VERIFY_PAGE))?;
            let n = rows.len();
            for raw in rows {
                next = raw.sequence.saturating_add(1);
                let seq = raw.sequence;
                let ok = match raw.decode() {
                    Ok(rec) => v.check(&rec),
                    Err(problem) => v.unreadable(seq, problem),
                };
                if !ok {
                    break 'pages;
                }
            }
            if (n as i64) < VERIFY_PAGE {
                break;
            }
        }
        Ok(v.finish(&checkpoints, &self.inner.keys))
    }
}

/// Walks entries in sequence order, recomputing each hash.
#[derive(Default)]
struct ChainVerifier {
    checked: u64,
    prev: Option<[u8; 32]>,
    last_seq: u64,
    bad: Option<(u64, String)>,
    /// Sequences that have a checkpoint, and the entry hashes found there.
    wanted: std::collections::HashSet<u64>,
    hashes: std::collections::HashMap<u64, [u8; 32]>,
    buf: Vec<u8>,
}

impl ChainVerifier {
    /// A row whose columns cannot even be decoded: it is the first bad entry.
    fn unreadable(&mut self, sequence: i64, problem: String) -> bool {
        let expected_seq = self.last_seq + 1;
        self.bad = Some((u64::try_from(sequence).unwrap_or(expected_seq), problem));
        false
    }

    /// Checks the next entry of the walk. Returns false once a bad entry was found (the walk
    /// stops there).
    fn check(&mut self, rec: &AuditRecord) -> bool {
        let expected_seq = self.last_seq + 1;
        if rec.sequence != expected_seq {
            self.bad = Some((
                expected_seq,
                format!(
                    "entry {expected_seq} is missing (the next stored entry is {})",
                    rec.sequence
                ),
            ));
            return false;
        }
        let prev = self.prev.unwrap_or(GENESIS);
        if rec.prev_hash != prev {
            self.bad = Some((
                rec.sequence,
                "prev_hash does not match the previous entry's hash".into(),
            ));
            return false;
        }
        let computed = entry_hash(&mut self.buf, &prev, rec.sequence, &rec.fields);
        if computed != rec.entry_hash {
            self.bad = Some((
                rec.sequence,
                "entry_hash does not match the entry's content: it was altered".into(),
            ));
            return false;
        }
        if self.wanted.contains(&rec.sequence) {
            self.hashes.insert(rec.sequence, rec.entry_hash);
        }
        self.prev = Some(rec.entry_hash);
        self.last_seq = rec.sequence;
        self.checked += 1;
        true
    }

    fn finish(self, checkpoints: &[records::RawCheckpoint], keys: &Keys) -> VerifyReport {
        let mut checkpoints_valid = true;
        let mut problem = self.bad.as_ref().map(|(_, p)| p.clone());
        let mut last_checkpoint_sequence = None;
        for cp in checkpoints {
            let seq = u64::try_from(cp.sequence).unwrap_or(0);
            last_checkpoint_sequence = Some(seq);
            let head = match cp.head() {
                Ok(h) => h,
                Err(_) => {
                    checkpoints_valid = false;
                    problem.get_or_insert_with(|| {
                        format!("checkpoint {seq}: head hash is not 32 bytes")
                    });
                    continue;
                }
            };
            if cp.key_id != keys.key_id() || !keys.verify_checkpoint(seq, &head, &cp.signature) {
                checkpoints_valid = false;
                problem.get_or_insert_with(|| {
                    format!("checkpoint {seq}: signature does not verify with the configured key")
                });
                continue;
            }
            match self.hashes.get(&seq) {
                Some(h) if *h == head => {}
                Some(_) => {
                    checkpoints_valid = false;
                    problem.get_or_insert_with(|| {
                        format!("checkpoint {seq}: signed head differs from entry {seq}")
                    });
                }
                // Only a complaint when the walk got that far: beyond a bad entry the chain
                // is already reported.
                None if self.bad.is_none() => {
                    checkpoints_valid = false;
                    problem.get_or_insert_with(|| {
                        format!(
                            "checkpoint {seq} is beyond the last entry ({}): entries were removed",
                            self.last_seq
                        )
                    });
                }
                None => {}
            }
        }
        let first_bad_sequence = self.bad.as_ref().map(|(s, _)| *s);
        VerifyReport {
            ok: first_bad_sequence.is_none() && checkpoints_valid,
            entries_checked: self.checked,
            first_bad_sequence,
            problem,
            last_checkpoint_sequence,
            checkpoints_valid,
        }
    }
}

fn entry_ref(e: &AuditEntry) -> Result<canonical::EntryRef<'_, accord_domain::CategoryId>> {
    Ok(canonical::EntryRef {
        occurred_at_us: to_us(e.occurred_at)?,
        event_kind: &e.event_kind,
        exchange_id: e.exchange_id,
        actor_agency: e.actor_agency.as_ref().map(|a| a.as_str()),
        actor_subject: &e.actor_subject,
        actor_roles: &e.actor_roles,
        requesting_agency: e.requesting_agency.as_ref().map(|a| a.as_str()),
        holding_agency: e.holding_agency.as_ref().map(|a| a.as_str()),
        purpose: e.purpose.as_ref().map(|p| p.as_str()),
        state_from: e.state_from.map(|s| s.as_str()),
        state_to: e.state_to.map(|s| s.as_str()),
        subject_hashes: &e.subject_hashes,
        categories: &e.categories,
        content_sha256: e.content_sha256.as_deref(),
        content_size: e.content_size,
        detail: canonical::Detail::Json(&e.detail),
    })
}

fn hash_from_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Benchmark hook, not part of the API: the hashing `Store::audit_verify` does over rows it
/// has read, timed without the reads.
#[doc(hidden)]
pub mod bench_support {
    use super::*;

    /// Audit rows in the form `audit_verify` holds them after reading a page.
    pub struct StoredRows(Vec<AuditRecord>);

    impl StoredRows {
        /// Converts exported entries into stored rows (canonical detail text, raw hashes).
        pub fn from_entries(entries: &[AuditEntry]) -> Result<StoredRows> {
            let mut rows = Vec::with_capacity(entries.len());
            for e in entries {
                let r = entry_ref(e)?;
                let bad = || StoreError::MalformedEntry("hash is not 64 hex digits");
                rows.push(AuditRecord {
                    sequence: e.sequence,
                    prev_hash: hash_from_hex(&e.prev_hash).ok_or_else(bad)?,
                    entry_hash: hash_from_hex(&e.entry_hash).ok_or_else(bad)?,
                    fields: canonical::EntryFields {
                        occurred_at_us: r.occurred_at_us,
                        event_kind: e.event_kind.clone(),
                        exchange_id: e.exchange_id,
                        actor_agency: r.actor_agency.map(str::to_owned),
                        actor_subject: e.actor_subject.clone(),
                        actor_roles: e.actor_roles.clone(),
                        requesting_agency: r.requesting_agency.map(str::to_owned),
                        holding_agency: r.holding_agency.map(str::to_owned),
                        purpose: r.purpose.map(str::to_owned),
                        state_from: r.state_from.map(str::to_owned),
                        state_to: r.state_to.map(str::to_owned),
                        subject_hashes: e.subject_hashes.clone(),
                        categories: e.categories.iter().map(|c| c.to_string()).collect(),
                        content_sha256: e.content_sha256.clone(),
                        content_size: e.content_size,
                        detail: canonical_json(&e.detail),
                    },
                });
            }
            Ok(StoredRows(rows))
        }

        /// Walks the rows exactly as `audit_verify` does (without checkpoints).
        pub fn verify(&self) -> VerifyReport {
            let mut v = ChainVerifier::default();
            for r in &self.0 {
                if !v.check(r) {
                    break;
                }
            }
            v.finish(
                &[],
                &Keys::new(
                    [0; 32],
                    [0; 32],
                    ed25519_dalek::SigningKey::from_bytes(&[0; 32]),
                ),
            )
        }
    }
}

/// Recomputes an audit entry's hash (lowercase hex) from its fields and its `prev_hash`,
/// exactly as `Store::audit_verify` does: `SHA-256(prev_hash || canonical_encoding(entry))`
/// (`docs/storage.md`). Lets an auditor check an exported entry without the database.
pub fn compute_entry_hash(entry: &AuditEntry) -> Result<String> {
    let prev = hash_from_hex(&entry.prev_hash)
        .ok_or(StoreError::MalformedEntry("prev_hash is not 64 hex digits"))?;
    let h = canonical::entry_hash_ref(&mut Vec::new(), &prev, entry.sequence, &entry_ref(entry)?);
    Ok(hex::encode(h))
}

/// Verifies a contiguous run of audit entries held in memory (an export, or pages of
/// `audit_range`) without the database: consecutive sequences, each `prev_hash` equal to the
/// previous `entry_hash` (the genesis hash, 64 zeros, before entry 1), and every hash
/// recomputed. The first entry of a run that starts later is taken as given. Checkpoints are
/// not part of an export; `checkpoints_valid` is reported true and
/// `last_checkpoint_sequence` as `None`.
pub fn verify_entries(entries: &[AuditEntry]) -> VerifyReport {
    // Each entry's hash depends only on its own stored prev_hash, so the hashing is split
    // across cores; the links between neighbours are checked in the same pass.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = entries.len().div_ceil(threads).max(1024);
    let first_bad = std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .enumerate()
            .map(|(ci, part)| scope.spawn(move || check_run(entries, ci * chunk, part.len())))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .min_by_key(|(i, _)| *i)
    });
    match first_bad {
        None => VerifyReport {
            ok: true,
            entries_checked: entries.len() as u64,
            first_bad_sequence: None,
            problem: None,
            last_checkpoint_sequence: None,
            checkpoints_valid: true,
        },
        Some((i, problem)) => VerifyReport {
            ok: false,
            entries_checked: i as u64,
            first_bad_sequence: Some(entries[i].sequence),
            problem: Some(problem),
            last_checkpoint_sequence: None,
            checkpoints_valid: true,
        },
    }
}

/// Checks `entries[start..start + len]`; returns the first bad index and why.
fn check_run(entries: &[AuditEntry], start: usize, len: usize) -> Option<(usize, String)> {
    let mut buf = Vec::with_capacity(1024);
    for i in start..start + len {
        let e = &entries[i];
        if i == 0 {
            if e.sequence == 1 && e.prev_hash != hex::encode(GENESIS) {
                return Some((i, "entry 1 does not start from the genesis hash".into()));
            }
        } else {
            let before = &entries[i - 1];
            if e.sequence != before.sequence + 1 {
                return Some((
                    i,
                    format!(
                        "entry {} does not follow entry {}",
                        e.sequence, before.sequence
                    ),
                ));
            }
            if e.prev_hash != before.entry_hash {
                return Some((
                    i,
                    "prev_hash does not match the previous entry's hash".into(),
                ));
            }
        }
        let Some(prev) = hash_from_hex(&e.prev_hash) else {
            return Some((i, "prev_hash is not 64 hex digits".into()));
        };
        let Ok(fields) = entry_ref(e) else {
            return Some((i, "occurred_at is out of range".into()));
        };
        let h = canonical::entry_hash_ref(&mut buf, &prev, e.sequence, &fields);
        if hash_from_hex(&e.entry_hash) != Some(h) {
            return Some((
                i,
                "entry_hash does not match the entry's content: it was altered".into(),
            ));
        }
    }
    None
}
