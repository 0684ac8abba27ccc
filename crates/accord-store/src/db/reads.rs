//! Reads straight from the pool, never through the writer: exchanges, listings, job
//! candidates, the inbox, the audit log and statistics. Expanded into each backend module by
//! `backend!`, which brings the names used here into scope.

/// Expands every read for database `$DB` with pool type `$Pool`.
macro_rules! reads {
    ($DB:ty, $Pool:ty) => {
        pub(crate) async fn get_exchange(pool: &$Pool, id: Uuid) -> Result<Option<RawExchange>> {
            let sql = format!(
                "SELECT {EXCHANGE_COLS} FROM exchanges e \
                 LEFT JOIN responses r ON r.exchange_id = e.id WHERE e.id = $1"
            );
            let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await.map_err(db_err)?;
            row.as_ref().map(raw_exchange).transpose().map_err(db_err)
        }

        pub(crate) async fn list(pool: &$Pool, f: &ListFilter) -> Result<Vec<RawSummary>> {
            let mut qb: QueryBuilder<$DB> =
                QueryBuilder::new(format!("SELECT {SUMMARY_COLS} FROM exchanges WHERE "));
            match f.party {
                crate::Party::Requester => {
                    qb.push("requesting_agency = ").push_bind(f.agency.clone());
                }
                // A holder never lists what is not visible to it (a refused request:
                // `ExchangeState::visible_to_holder`).
                crate::Party::Holder => {
                    qb.push("holding_agency = ")
                        .push_bind(f.agency.clone())
                        .push(" AND state <> ")
                        .push_bind(accord_domain::ExchangeState::Refused.as_str());
                }
                crate::Party::Either => {
                    qb.push("(requesting_agency = ")
                        .push_bind(f.agency.clone())
                        .push(" OR (holding_agency = ")
                        .push_bind(f.agency.clone())
                        .push(" AND state <> ")
                        .push_bind(accord_domain::ExchangeState::Refused.as_str())
                        .push("))");
                }
            }
            if !f.states.is_empty() {
                qb.push(" AND state IN (");
                let mut sep = qb.separated(", ");
                for s in &f.states {
                    sep.push_bind(*s);
                }
                qb.push(")");
            }
            if let Some(p) = &f.purpose {
                qb.push(" AND purpose = ").push_bind(p.clone());
            }
            if let Some(t) = f.created_after {
                qb.push(" AND created_at >= ").push_bind(t);
            }
            if let Some(t) = f.created_before {
                qb.push(" AND created_at < ").push_bind(t);
            }
            if let Some((t, id)) = f.before {
                qb.push(" AND (created_at, id) < (").push_bind(t).push(", ").push_bind(id).push(")");
            }
            qb.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(raw_summary).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        pub(crate) async fn overdue_candidates(pool: &$Pool, now: i64, limit: i64) -> Result<Vec<Uuid>> {
            let rows = sqlx::query(
                "SELECT id FROM exchanges WHERE overdue = FALSE \
                 AND state IN ('awaiting_approval', 'escalated') AND respond_by < $1 \
                 ORDER BY respond_by LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        pub(crate) async fn expiry_candidates(pool: &$Pool, deadline: i64, limit: i64) -> Result<Vec<Uuid>> {
            // The state predicate repeats the partial index `exchanges_expiry` (migration
            // 0004) word for word: SQLite uses a partial index only then.
            let rows = sqlx::query(
                "SELECT id FROM exchanges \
                 WHERE state IN ('more_info_requested', 'approved', 'partly_approved') \
                 AND respond_by <= $1 ORDER BY respond_by, id LIMIT $2",
            )
            .bind(deadline)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        /// A holder's pending queue by (respond_by, id), for `PendingFilter`.
        pub(crate) async fn pending(pool: &$Pool, f: &PendingFilter) -> Result<Vec<RawExchange>> {
            // The state list repeats the partial index `exchanges_pending` (migration 0005)
            // word for word, SQLite using a partial index only then; the caller's states narrow
            // it. The index is in (respond_by, id) order, so the limit ends the scan.
            let mut qb: QueryBuilder<$DB> = QueryBuilder::new(format!(
                "SELECT {EXCHANGE_COLS} FROM exchanges e \
                 LEFT JOIN responses r ON r.exchange_id = e.id \
                 WHERE e.state IN ('awaiting_approval', 'escalated') AND e.holding_agency = "
            ));
            qb.push_bind(f.agency.clone()).push(" AND e.state IN (");
            let mut sep = qb.separated(", ");
            for s in &f.states {
                sep.push_bind(*s);
            }
            qb.push(")");
            if let Some((t, id)) = f.after {
                qb.push(" AND (e.respond_by, e.id) > (").push_bind(t).push(", ").push_bind(id).push(")");
            }
            qb.push(" ORDER BY e.respond_by, e.id LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(raw_exchange).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        pub(crate) async fn prior(pool: &$Pool, hashes: &[String], since: i64) -> Result<Vec<PriorRow>> {
            if hashes.is_empty() {
                return Ok(Vec::new());
            }
            let mut qb: QueryBuilder<$DB> = QueryBuilder::new(
                "SELECT s.subject_hash, e.id, e.requesting_agency, e.holding_agency, e.purpose, \
                 e.state, e.created_at, e.assessment, e.approved_scope \
                 FROM exchange_subjects s JOIN exchanges e ON e.id = s.exchange_id \
                 WHERE s.role = 'child' AND s.created_at >= ",
            );
            qb.push_bind(since).push(" AND s.subject_hash IN (");
            let mut sep = qb.separated(", ");
            for h in hashes {
                sep.push_bind(h.clone());
            }
            qb.push(") ORDER BY e.created_at, e.id");
            let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(PriorRow {
                        subject_hash: r.try_get("subject_hash")?,
                        id: r.try_get("id")?,
                        requesting_agency: r.try_get("requesting_agency")?,
                        holding_agency: r.try_get("holding_agency")?,
                        purpose: r.try_get("purpose")?,
                        state: r.try_get("state")?,
                        created_at: r.try_get("created_at")?,
                        assessment: r.try_get("assessment")?,
                        approved_scope: r.try_get("approved_scope")?,
                    })
                })
                .collect::<sqlx::Result<_>>()
                .map_err(db_err)
        }

        pub(crate) async fn inbox(pool: &$Pool, agency: &str, after: i64, limit: i64) -> Result<Vec<RawInbox>> {
            let rows = sqlx::query(
                "SELECT cursor, agency, exchange_id, kind, state, occurred_at, summary FROM inbox_events \
                 WHERE agency = $1 AND cursor > $2 ORDER BY cursor LIMIT $3",
            )
            .bind(agency)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(RawInbox {
                        cursor: r.try_get("cursor")?,
                        agency: r.try_get("agency")?,
                        exchange_id: r.try_get("exchange_id")?,
                        kind: r.try_get("kind")?,
                        state: r.try_get("state")?,
                        occurred_at: r.try_get("occurred_at")?,
                        summary: r.try_get("summary")?,
                    })
                })
                .collect::<sqlx::Result<_>>()
                .map_err(db_err)
        }

        /// Filters other than the agency, appended to a WHERE clause already begun.
        fn push_audit_filters(qb: &mut QueryBuilder<$DB>, f: &AuditFilter) {
            if let Some(id) = f.exchange_id {
                qb.push(" AND exchange_id = ").push_bind(id);
            }
            if let Some(h) = &f.subject_hash {
                qb.push(" AND exchange_id IN (SELECT exchange_id FROM exchange_subjects WHERE subject_hash = ")
                    .push_bind(h.clone())
                    .push(")");
            }
            if let Some(p) = &f.purpose {
                qb.push(" AND purpose = ").push_bind(p.clone());
            }
            if let Some(k) = &f.event_kind {
                qb.push(" AND event_kind = ").push_bind(k.clone());
            }
            if let Some(s) = &f.state_to {
                qb.push(" AND state_to = ").push_bind(s.clone());
            }
            if let Some(t) = f.from {
                qb.push(" AND occurred_at >= ").push_bind(t);
            }
            if let Some(t) = f.to {
                qb.push(" AND occurred_at < ").push_bind(t);
            }
            if let Some((t, s)) = f.after {
                qb.push(" AND (occurred_at, sequence) > (").push_bind(t).push(", ").push_bind(s).push(")");
            }
        }

        pub(crate) async fn audit_query(pool: &$Pool, f: &AuditFilter) -> Result<Vec<RawAudit>> {
            let mut qb: QueryBuilder<$DB> = QueryBuilder::new("");
            match &f.agency {
                None => {
                    qb.push(format!("SELECT {AUDIT_COLS} FROM audit_log WHERE TRUE"));
                    push_audit_filters(&mut qb, f);
                }
                Some(agency) => {
                    // One index range scan per agency column, each already in order and
                    // limited, merged: an OR over three columns would make the database
                    // collect and sort every match before applying the limit.
                    qb.push(format!(
                        "SELECT {AUDIT_COLS} FROM audit_log WHERE sequence IN (SELECT sequence FROM ("
                    ));
                    for (i, col) in ["requesting_agency", "holding_agency", "actor_agency"].iter().enumerate() {
                        if i > 0 {
                            qb.push(" UNION ");
                        }
                        qb.push(format!(
                            "SELECT sequence, occurred_at FROM (SELECT sequence, occurred_at FROM audit_log WHERE {col} = "
                        ));
                        qb.push_bind(agency.clone());
                        push_audit_filters(&mut qb, f);
                        qb.push(" ORDER BY occurred_at, sequence LIMIT ").push_bind(f.limit);
                        qb.push(format!(") AS r{i}"));
                    }
                    qb.push(") AS u ORDER BY occurred_at, sequence LIMIT ").push_bind(f.limit).push(")");
                }
            }
            qb.push(" ORDER BY occurred_at, sequence LIMIT ").push_bind(f.limit);
            let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(raw_audit).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        pub(crate) async fn audit_range(pool: &$Pool, from: i64, to: i64, limit: i64) -> Result<Vec<RawAudit>> {
            let sql = format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE sequence >= $1 AND sequence <= $2 \
                 ORDER BY sequence LIMIT $3"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(from)
                .bind(to)
                .bind(limit)
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter().map(raw_audit).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        /// The last entry's (sequence, entry hash), if any.
        pub(crate) async fn audit_head(pool: &$Pool) -> Result<Option<(i64, Vec<u8>)>> {
            let row = sqlx::query("SELECT sequence, entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1")
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|r| Ok((r.try_get("sequence")?, r.try_get("entry_hash")?)))
                .transpose()
                .map_err(db_err)
        }

        /// Entries after `after` of the given kinds (any when empty), by sequence.
        pub(crate) async fn events_since(pool: &$Pool, after: i64, kinds: &[&str], limit: i64) -> Result<Vec<RawAudit>> {
            let mut qb: QueryBuilder<$DB> =
                QueryBuilder::new(format!("SELECT {AUDIT_COLS} FROM audit_log WHERE sequence > "));
            qb.push_bind(after);
            if !kinds.is_empty() {
                qb.push(" AND event_kind IN (");
                let mut sep = qb.separated(", ");
                for k in kinds {
                    sep.push_bind(k.to_string());
                }
                qb.push(")");
            }
            qb.push(" ORDER BY sequence LIMIT ").push_bind(limit);
            let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(raw_audit).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        pub(crate) async fn checkpoints(pool: &$Pool) -> Result<Vec<RawCheckpoint>> {
            let rows = sqlx::query(
                "SELECT sequence, head_hash, signature, key_id FROM audit_checkpoints ORDER BY sequence",
            )
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(RawCheckpoint {
                        sequence: r.try_get("sequence")?,
                        head_hash: r.try_get("head_hash")?,
                        signature: r.try_get("signature")?,
                        key_id: r.try_get("key_id")?,
                    })
                })
                .collect::<sqlx::Result<_>>()
                .map_err(db_err)
        }

        /// (key, count) pairs from a grouped query over exchanges created in [from, to).
        pub(crate) async fn count_by(pool: &$Pool, cols: &str, from: i64, to: i64) -> Result<Vec<(String, String, i64)>> {
            // `cols` is one of a fixed set chosen by the caller, never user input.
            let sql = format!(
                "SELECT {cols}, COUNT(*) AS n FROM exchanges WHERE created_at >= $1 AND created_at < $2 \
                 GROUP BY {cols} ORDER BY {cols}"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(from).bind(to).fetch_all(pool).await.map_err(db_err)?;
            let two = cols.contains(',');
            rows.iter()
                .map(|r| {
                    let a: String = r.try_get(0)?;
                    let b: String = if two { r.try_get(1)? } else { String::new() };
                    let n: i64 = r.try_get("n")?;
                    Ok((a, b, n))
                })
                .collect::<sqlx::Result<_>>()
                .map_err(db_err)
        }

        /// Seconds from submission to first decision, for exchanges created in [from, to).
        pub(crate) async fn decision_times(pool: &$Pool, from: i64, to: i64) -> Result<Vec<i64>> {
            let rows = sqlx::query(
                "SELECT first_decision_at - created_at AS d FROM exchanges \
                 WHERE created_at >= $1 AND created_at < $2 AND first_decision_at IS NOT NULL",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(|r| r.try_get::<i64, _>("d")).collect::<sqlx::Result<_>>().map_err(db_err)
        }

        pub(crate) async fn overdue_count(pool: &$Pool, from: i64, to: i64, now: i64) -> Result<i64> {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM exchanges WHERE created_at >= $1 AND created_at < $2 \
                 AND state IN ('awaiting_approval', 'escalated') AND respond_by < $3",
            )
            .bind(from)
            .bind(to)
            .bind(now)
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            row.try_get::<i64, _>("n").map_err(db_err)
        }
    };
}
pub(crate) use reads;
