//! `todo_events`: reading the per-user log back, for resume and for events committed by
//! another instance.

use protocol::TodoEvent;

use super::Db;
use crate::with_pool;

/// Events after `after_seq`, in order, at most `limit`; plus whether the log still reaches back
/// to `after_seq + 1` (false: pruned, the caller must send a snapshot instead).
pub async fn after(
    db: &Db,
    user_id: i64,
    after_seq: i64,
    limit: i64,
) -> Result<(Vec<(i64, TodoEvent)>, bool), sqlx::Error> {
    const SQL: &str = "SELECT seq, payload FROM todo_events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
    const OLDEST: &str = "SELECT MIN(seq) FROM todo_events WHERE user_id = $1";
    let (rows, oldest): (Vec<(i64, String)>, (Option<i64>,)) = with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        let rows = sqlx::query_as(SQL).bind(user_id).bind(after_seq).bind(limit).fetch_all(&mut *tx).await?;
        let oldest = sqlx::query_as(OLDEST).bind(user_id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        (rows, oldest)
    });
    // The log reaches back far enough when its oldest kept event is at most `after_seq + 1`.
    let complete = oldest.0.is_none_or(|oldest| oldest <= after_seq + 1);
    let mut events = Vec::with_capacity(rows.len());
    for (seq, payload) in rows {
        let ev: TodoEvent =
            serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        events.push((seq, ev));
    }
    Ok((events, complete))
}

/// Several events by `(user, seq)`, in order, for a batch notified by another instance
/// (PostgreSQL only: the listener exists only there). Pruned ones are simply absent.
pub async fn get_many(
    db: &Db,
    keys: &[(i64, i64)],
) -> Result<Vec<(i64, i64, TodoEvent)>, sqlx::Error> {
    const SQL: &str = "SELECT e.user_id, e.seq, e.payload FROM todo_events e \
                       JOIN UNNEST($1::BIGINT[], $2::BIGINT[]) AS k(user_id, seq) \
                       ON e.user_id = k.user_id AND e.seq = k.seq ORDER BY e.user_id, e.seq";
    let Db::Postgres(pool) = db else {
        return Ok(Vec::new());
    };
    let (users, seqs): (Vec<i64>, Vec<i64>) = keys.iter().copied().unzip();
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(SQL)
        .bind(users)
        .bind(seqs)
        .fetch_all(pool)
        .await?;
    rows.into_iter()
        .map(|(u, s, p)| {
            let ev = serde_json::from_str(&p).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((u, s, ev))
        })
        .collect()
}
