//! Decoding rows into the `Raw*` types of `records.rs`: by column name, the same for both
//! backends. Expanded into each backend module by `backend!`, which brings the names used here
//! into scope.

/// Expands `raw_exchange`, `raw_audit` and `raw_summary` for rows of database `$DB`.
macro_rules! decoders {
    ($DB:ty) => {
        fn raw_exchange(row: &DbRow) -> sqlx::Result<RawExchange> {
            let r_submitted_at: Option<i64> = row.try_get("r_submitted_at")?;
            let response = match r_submitted_at {
                None => None,
                Some(submitted_at) => Some(RawResponse {
                    submitted_at,
                    submitted_by: row.try_get("r_submitted_by")?,
                    content_sha256: row.try_get("r_content_sha256")?,
                    content_size: row.try_get("r_content_size")?,
                    categories: row.try_get("r_categories")?,
                    retain_until: row.try_get("r_retain_until")?,
                    purged: row.try_get("r_purged")?,
                }),
            };
            Ok(RawExchange {
                id: row.try_get("id")?,
                state: row.try_get("state")?,
                version: row.try_get("version")?,
                idempotency_key: row.try_get("idempotency_key")?,
                requesting_agency: row.try_get("requesting_agency")?,
                holding_agency: row.try_get("holding_agency")?,
                purpose: row.try_get("purpose")?,
                urgency: row.try_get("urgency")?,
                level_of_need: row.try_get("level_of_need")?,
                respond_by: row.try_get("respond_by")?,
                overdue: row.try_get("overdue")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                first_decision_at: row.try_get("first_decision_at")?,
                request_ct: row.try_get("request_ct")?,
                subject_hashes: row.try_get("subject_hashes")?,
                assessment: row.try_get("assessment")?,
                decisions: row.try_get("decisions")?,
                approved_scope: row.try_get("approved_scope")?,
                conditions: row.try_get("conditions")?,
                decisions_ct: row.try_get("decisions_ct")?,
                reasons_ct: row.try_get("reasons_ct")?,
                record_retain_until: row.try_get("record_retain_until")?,
                response,
            })
        }

        fn raw_audit(row: &DbRow) -> sqlx::Result<RawAudit> {
            Ok(RawAudit {
                sequence: row.try_get("sequence")?,
                prev_hash: row.try_get("prev_hash")?,
                entry_hash: row.try_get("entry_hash")?,
                occurred_at: row.try_get("occurred_at")?,
                event_kind: row.try_get("event_kind")?,
                exchange_id: row.try_get("exchange_id")?,
                actor_agency: row.try_get("actor_agency")?,
                actor_subject: row.try_get("actor_subject")?,
                actor_roles: row.try_get("actor_roles")?,
                requesting_agency: row.try_get("requesting_agency")?,
                holding_agency: row.try_get("holding_agency")?,
                purpose: row.try_get("purpose")?,
                state_from: row.try_get("state_from")?,
                state_to: row.try_get("state_to")?,
                subject_hashes: row.try_get("subject_hashes")?,
                categories: row.try_get("categories")?,
                content_sha256: row.try_get("content_sha256")?,
                content_size: row.try_get("content_size")?,
                detail: row.try_get("detail")?,
            })
        }

        fn raw_summary(row: &DbRow) -> sqlx::Result<RawSummary> {
            Ok(RawSummary {
                id: row.try_get("id")?,
                state: row.try_get("state")?,
                version: row.try_get("version")?,
                requesting_agency: row.try_get("requesting_agency")?,
                holding_agency: row.try_get("holding_agency")?,
                purpose: row.try_get("purpose")?,
                urgency: row.try_get("urgency")?,
                level_of_need: row.try_get("level_of_need")?,
                respond_by: row.try_get("respond_by")?,
                overdue: row.try_get("overdue")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }
    };
}
pub(crate) use decoders;
