//! After the scenes: the audit trail as the auditor sees it, and its verification.

use accord_proto::v1 as pb;

use super::people::AUDITOR;
use super::{act, Demo};
use crate::output::{self, Table};
use crate::{audit_cmd, view};

/// Reads the whole log as the auditor, checks it holds every state of exchange `b` and some
/// entry of each of `others`, and verifies the chain and the latest checkpoint.
pub(super) async fn play(demo: &mut Demo, b: &str, others: [&str; 3]) -> anyhow::Result<()> {
    outln!("\n\n=== The audit trail");
    for line in output::wrap_text(
        "Every step above was written to one append-only, hash-chained log in the same \
         transaction as the change, with signed checkpoints of its head. The auditor reads \
         metadata only, never the content; subject identifiers are stored as keyed hashes.",
        96,
    ) {
        outln!("{line}");
    }
    let auditor = demo.person(&AUDITOR).await?;
    act(&AUDITOR, "reads the whole log");
    let log = audit_cmd::query(
        &auditor,
        &audit_cmd::QueryArgs {
            limit: 500,
            ..Default::default()
        },
        true,
    )
    .await?;
    out!("{}", demo_audit_table(&log.entries).render());
    let seqs: Vec<u64> = log.entries.iter().map(|e| e.sequence).collect();
    demo.check(
        !seqs.is_empty() && seqs.iter().enumerate().all(|(i, s)| *s == i as u64 + 1),
        format!(
            "{} entries, numbered 1 to {} without gaps",
            seqs.len(),
            seqs.len()
        ),
    )?;
    demo.check(
        log.entries
            .windows(2)
            .all(|w| w[1].prev_hash == w[0].entry_hash),
        "each entry holds the hash of the one before",
    )?;
    let b_states: Vec<i32> = log
        .entries
        .iter()
        .filter(|e| e.exchange_id == b)
        .map(|e| e.state_to)
        .filter(|s| *s != 0)
        .collect();
    let b_path = [
        pb::ExchangeState::AwaitingApproval,
        pb::ExchangeState::PartlyApproved,
        pb::ExchangeState::Responded,
        pb::ExchangeState::Delivered,
        pb::ExchangeState::Acknowledged,
    ];
    demo.check(
        b_path.iter().all(|s| b_states.contains(&(*s as i32))),
        "every state of exchange (b) is in the log",
    )?;
    demo.check(
        others
            .iter()
            .all(|id| log.entries.iter().any(|e| e.exchange_id == *id)),
        "the other three exchanges are in the log too",
    )?;
    demo.check(
        log.entries.iter().all(|e| {
            !e.detail_json.contains("Two A&E attendances") && !e.detail_json.contains("943 476")
        }),
        "no shared content or child identifier appears in the log",
    )?;

    act(&AUDITOR, "verifies the log");
    let v = audit_cmd::verify(&auditor, 0, 0).await?;
    view::print_verify(&v);
    demo.check(
        v.ok && v.entries_checked >= seqs.len() as u64,
        format!("the chain verifies over {} entries", v.entries_checked),
    )?;
    demo.check(
        v.last_checkpoint_sequence > 0 && v.checkpoint_signature_valid,
        format!(
            "the latest signed checkpoint (entry {}) has a valid signature",
            v.last_checkpoint_sequence
        ),
    )?;
    Ok(())
}

/// The log for the demo: sequence, time of day, event, agencies, state change, hash prefix.
fn demo_audit_table(entries: &[pb::AuditEntry]) -> Table {
    let mut t = Table::new(&[
        "SEQ",
        "TIME",
        "EVENT",
        "ACTOR",
        "AGENCIES",
        "STATE CHANGE",
        "HASH",
    ]);
    let short = |a: &str| -> String {
        a.replace("sandwell-west-birmingham-nhs", "swb-nhs")
            .replace("sandwell-childrens-trust", "sc-trust")
            .replace("west-midlands-police", "wm-police")
            .replace("sandwell-council", "council")
            .replace("sandwell-schools", "schools")
    };
    for e in entries {
        let agencies = if !e.requesting_agency_id.is_empty() {
            format!(
                "{} -> {}",
                short(&e.requesting_agency_id),
                short(&e.holding_agency_id)
            )
        } else {
            short(&e.actor_agency_id)
        };
        let actor = if e.actor_subject.is_empty() {
            "broker".to_owned()
        } else {
            e.actor_subject.clone()
        };
        let time = output::time(e.occurred_at.as_ref());
        t.row([
            e.sequence.to_string(),
            time.get(11..19).unwrap_or(&time).to_owned(),
            e.event_kind.clone(),
            actor,
            agencies,
            view::state_change(e),
            output::short_hash(&e.entry_hash, 12),
        ]);
    }
    t
}
