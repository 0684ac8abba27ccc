//! The group-commit writer's batch transaction: one `Tx` per batch, holding the lock that lets
//! only it extend the audit chain until it commits. Expanded into each backend module by
//! `backend!`, which brings the names used here into scope.

/// Expands `Tx`, `begin` and `impl BatchTx for Tx` for database `$DB` with pool type `$Pool`;
/// a batch starts with the statement `$begin`.
macro_rules! batch_tx {
    ($DB:ty, $Pool:ty, $begin:expr) => {
        /// The writer's batch transaction.
        pub(crate) struct Tx(sqlx::Transaction<'static, $DB>);

        /// Starts a batch transaction that alone may extend the chain until it ends.
        pub(crate) async fn begin(pool: &$Pool) -> Result<Tx> {
            let tx = pool.begin_with($begin).await.map_err(db_err)?;
            Ok(Tx(tx))
        }

        impl BatchTx for Tx {
            async fn head(&mut self) -> Result<Head> {
                let row = sqlx::query(
                    "SELECT (SELECT sequence FROM audit_log ORDER BY sequence DESC LIMIT 1) AS seq, \
                            (SELECT entry_hash FROM audit_log ORDER BY sequence DESC LIMIT 1) AS hash, \
                            (SELECT MAX(sequence) FROM audit_checkpoints) AS cp, \
                            (SELECT MAX(cursor) FROM inbox_events) AS cur",
                )
                .fetch_one(&mut *self.0)
                .await
                .map_err(db_err)?;
                let seq: Option<i64> = row.try_get("seq").map_err(db_err)?;
                let hash: Option<Vec<u8>> = row.try_get("hash").map_err(db_err)?;
                let cp: Option<i64> = row.try_get("cp").map_err(db_err)?;
                let cur: Option<i64> = row.try_get("cur").map_err(db_err)?;
                let hash = match hash {
                    None => crate::canonical::GENESIS,
                    Some(h) => <[u8; 32]>::try_from(h.as_slice())
                        .map_err(|_| crate::records::corrupt("head hash"))?,
                };
                let nonneg = |v: Option<i64>, what| crate::records::u64_of(v.unwrap_or(0), what);
                Ok(Head {
                    sequence: nonneg(seq, "head sequence")?,
                    hash,
                    last_checkpoint: nonneg(cp, "checkpoint sequence")?,
                    last_cursor: nonneg(cur, "inbox cursor")?,
                })
            }

            async fn load_exchange(&mut self, id: Uuid) -> Result<Option<RawExchange>> {
                let sql = format!(
                    "SELECT {EXCHANGE_COLS} FROM exchanges e \
                     LEFT JOIN responses r ON r.exchange_id = e.id WHERE e.id = $1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *self.0).await.map_err(db_err)?;
                row.as_ref().map(raw_exchange).transpose().map_err(db_err)
            }

            async fn find_idempotent(&mut self, agency: &str, key: &str) -> Result<Option<Uuid>> {
                let row = sqlx::query(
                    "SELECT id FROM exchanges WHERE requesting_agency = $1 AND idempotency_key = $2",
                )
                .bind(agency)
                .bind(key)
                .fetch_optional(&mut *self.0)
                .await
                .map_err(db_err)?;
                row.map(|r| r.try_get::<Uuid, _>("id")).transpose().map_err(db_err)
            }

            async fn insert_exchange(&mut self, w: &ExchangeWrite) -> Result<()> {
                sqlx::query(
                    "INSERT INTO exchanges (id, state, version, idempotency_key, requesting_agency, \
                     holding_agency, purpose, urgency, respond_by, overdue, created_at, updated_at, \
                     first_decision_at, request_ct, subject_hashes, assessment, decisions, \
                     approved_scope, conditions, level_of_need, decisions_ct, reasons_ct, \
                     record_retain_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
                     $21, $22, $23)",
                )
                .bind(w.id)
                .bind(w.state)
                .bind(w.version)
                .bind(&w.idempotency_key)
                .bind(&w.requesting_agency)
                .bind(&w.holding_agency)
                .bind(&w.purpose)
                .bind(w.urgency)
                .bind(w.respond_by)
                .bind(w.overdue)
                .bind(w.created_at)
                .bind(w.updated_at)
                .bind(w.first_decision_at)
                .bind(&w.request_ct)
                .bind(&w.subject_hashes)
                .bind(&w.assessment)
                .bind(w.decisions)
                .bind(&w.approved_scope)
                .bind(&w.conditions)
                .bind(w.level_of_need)
                .bind(&w.decisions_ct)
                .bind(&w.reasons_ct)
                .bind(w.record_retain_until)
                .execute(&mut *self.0)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn update_exchange(&mut self, w: &ExchangeWrite) -> Result<()> {
                sqlx::query(
                    "UPDATE exchanges SET state = $2, version = $3, respond_by = $4, overdue = $5, \
                     updated_at = $6, first_decision_at = $7, request_ct = $8, decisions = $9, \
                     approved_scope = $10, conditions = $11, decisions_ct = $12 WHERE id = $1",
                )
                .bind(w.id)
                .bind(w.state)
                .bind(w.version)
                .bind(w.respond_by)
                .bind(w.overdue)
                .bind(w.updated_at)
                .bind(w.first_decision_at)
                .bind(&w.request_ct)
                .bind(w.decisions)
                .bind(&w.approved_scope)
                .bind(&w.conditions)
                .bind(&w.decisions_ct)
                .execute(&mut *self.0)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn insert_subjects(&mut self, rows: &[SubjectRow]) -> Result<()> {
                for chunk in rows.chunks(INSERT_CHUNK) {
                    let mut qb: QueryBuilder<$DB> = QueryBuilder::new(
                        "INSERT INTO exchange_subjects (subject_hash, exchange_id, role, created_at) ",
                    );
                    qb.push_values(chunk, |mut b, (hash, id, role, at)| {
                        b.push_bind(hash.as_str()).push_bind(*id).push_bind(*role).push_bind(*at);
                    });
                    // The same identifier may appear twice in one request.
                    qb.push(" ON CONFLICT DO NOTHING");
                    qb.build().execute(&mut *self.0).await.map_err(db_err)?;
                }
                Ok(())
            }

            async fn insert_response(&mut self, r: &ResponseWrite) -> Result<()> {
                sqlx::query(
                    "INSERT INTO responses (exchange_id, submitted_at, submitted_by, content_ct, \
                     content_sha256, content_size, categories, retain_until, purged) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE)",
                )
                .bind(r.exchange_id)
                .bind(r.submitted_at)
                .bind(&r.submitted_by)
                .bind(&r.content_ct)
                .bind(&r.content_sha256)
                .bind(r.content_size)
                .bind(&r.categories)
                .bind(r.retain_until)
                .execute(&mut *self.0)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn response_content(&mut self, id: Uuid) -> Result<Option<Option<Vec<u8>>>> {
                let row = sqlx::query("SELECT content_ct FROM responses WHERE exchange_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                row.map(|r| r.try_get::<Option<Vec<u8>>, _>("content_ct")).transpose().map_err(db_err)
            }

            async fn expired_responses(&mut self, now: i64, limit: i64) -> Result<Vec<Uuid>> {
                let rows = sqlx::query(
                    "SELECT exchange_id FROM responses WHERE purged = FALSE AND retain_until <= $1 \
                     ORDER BY retain_until LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *self.0)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<Uuid, _>("exchange_id")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            async fn purge_content(&mut self, id: Uuid) -> Result<()> {
                sqlx::query("UPDATE responses SET content_ct = NULL, purged = TRUE WHERE exchange_id = $1")
                    .bind(id)
                    .execute(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn expired_records(&mut self, now: i64, limit: i64) -> Result<Vec<Uuid>> {
                // `decisions_ct IS NOT NULL` repeats the predicate of the partial index
                // `exchanges_record_retention` (migration 0006) for SQLite to use it.
                let rows = sqlx::query(
                    "SELECT e.id FROM exchanges e WHERE e.decisions_ct IS NOT NULL \
                     AND e.record_retain_until <= $1 AND e.request_ct IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM responses r \
                                     WHERE r.exchange_id = e.id AND r.purged = FALSE) \
                     ORDER BY e.record_retain_until LIMIT $2",
                )
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *self.0)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            async fn purge_record(&mut self, id: Uuid) -> Result<()> {
                sqlx::query("UPDATE exchanges SET reasons_ct = NULL, decisions_ct = NULL, decisions = '' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *self.0)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn records_to_upgrade(&mut self, limit: i64) -> Result<Vec<Uuid>> {
                // The predicate of the partial index `exchanges_record_upgrade` (migration
                // 0006), which is empty once every row is upgraded.
                let rows = sqlx::query(
                    "SELECT id FROM exchanges WHERE record_retain_until IS NULL ORDER BY id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&mut *self.0)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            async fn upgrade_record(&mut self, r: &RecordUpgrade) -> Result<()> {
                sqlx::query(
                    "UPDATE exchanges SET decisions = '', decisions_ct = $2, reasons_ct = $3, \
                     record_retain_until = $4 WHERE id = $1 AND record_retain_until IS NULL",
                )
                .bind(r.id)
                .bind(&r.decisions_ct)
                .bind(&r.reasons_ct)
                .bind(r.record_retain_until)
                .execute(&mut *self.0)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn unanswered_requests(&mut self, ended_before: i64, limit: i64) -> Result<Vec<Uuid>> {
                // The state list and `request_ct IS NOT NULL` repeat the predicate of the
                // partial index `exchanges_unanswered_retention` word for word: SQLite uses
                // a partial index only when the query's WHERE contains its terms.
                let rows = sqlx::query(
                    "SELECT e.id FROM exchanges e WHERE e.request_ct IS NOT NULL \
                     AND e.state IN ('refused', 'declined', 'withdrawn', 'expired', 'closed') \
                     AND e.updated_at <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.exchange_id = e.id) \
                     ORDER BY e.updated_at LIMIT $2",
                )
                .bind(ended_before)
                .bind(limit)
                .fetch_all(&mut *self.0)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| r.try_get::<Uuid, _>("id")).collect::<sqlx::Result<_>>().map_err(db_err)
            }

            async fn insert_audit(&mut self, rows: &[AuditRecord]) -> Result<()> {
                bulk::insert_audit(&mut self.0, rows).await
            }

            async fn insert_inbox(&mut self, rows: &[(i64, InboxDraft)]) -> Result<()> {
                bulk::insert_inbox(&mut self.0, rows).await
            }

            async fn insert_checkpoint(
                &mut self,
                sequence: i64,
                head: [u8; 32],
                signature: Vec<u8>,
                key_id: String,
                now: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_checkpoints (sequence, head_hash, signature, key_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(sequence)
                .bind(head.to_vec())
                .bind(signature)
                .bind(key_id)
                .bind(now)
                .execute(&mut *self.0)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn commit(self) -> Result<()> {
                self.0.commit().await.map_err(db_err)
            }
        }
    };
}
pub(crate) use batch_tx;
