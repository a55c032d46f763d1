//! Pairing codes and bridge tokens: the only SQL of the bridge domain.

use sqlx::AnyPool;

use crate::clock::{seconds_of_timestamp, timestamp_of_seconds};
use crate::secrets::token_hash;

/// A pairing code is valid this long after the portal shows it.
pub(super) const CODE_LIFETIME_SECS: i64 = 10 * 60;
/// A bridge token is valid this long after pairing (then the learner pairs again).
pub(super) const TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// A paired machine, as the Connect page lists it.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// Its id, for revoking.
    pub id: i64,
    /// The machine, as the client reported it at pairing.
    pub label: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, if ever used to connect.
    pub last_used_at: Option<i64>,
}

/// Why a token was not accepted, in words for the learner's terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum TokenState {
    /// Valid, for this learner.
    Valid {
        /// The token's id (a revoked token closes the bridge it opened).
        token_id: i64,
        /// The learner.
        learner_id: i64,
        /// Their user name.
        username: String,
    },
    /// Not a token this portal issued.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked from the Connect page.
    Revoked,
    /// The learner's account was deactivated by an admin.
    Deactivated,
}

pub(super) async fn insert_code(
    pool: &AnyPool,
    learner_id: i64,
    code: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bridge_codes WHERE expires_at < $1")
        .bind(timestamp_of_seconds(now))
        .execute(pool)
        .await?;
    sqlx::query("INSERT INTO bridge_codes (code_hash, learner_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash(code))
        .bind(learner_id)
        .bind(timestamp_of_seconds(now + CODE_LIFETIME_SECS))
        .execute(pool)
        .await?;
    Ok(())
}

/// Uses a pairing code (once) and issues a token for its learner; `None` if the code is unknown,
/// used or expired.
pub(super) async fn exchange_code(
    pool: &AnyPool,
    code: &str,
    token: &str,
    label: &str,
    now: i64,
) -> Result<Option<(i64, String, i64)>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let learner: Option<(i64,)> = sqlx::query_as(
        "UPDATE bridge_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at >= $3 RETURNING learner_id",
    )
    .bind(timestamp_of_seconds(now))
    .bind(token_hash(code))
    .bind(timestamp_of_seconds(now))
    .fetch_all(&mut *tx)
    .await?
    .pop();
    let Some((learner_id,)) = learner else {
        return Ok(None);
    };
    // A code dies with its account's deactivation: used up, and never exchanged, so that
    // reactivating the account does not revive it.
    let (username, deactivated_at): (String, Option<String>) =
        sqlx::query_as("SELECT username, deactivated_at FROM accounts WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_one(&mut *tx)
            .await?;
    if deactivated_at.is_some() {
        tx.commit().await?;
        return Ok(None);
    }
    let expires_at = now + TOKEN_LIFETIME_SECS;
    sqlx::query("INSERT INTO bridge_tokens (learner_id, token_hash, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(learner_id)
        .bind(token_hash(token))
        .bind(label)
        .bind(timestamp_of_seconds(now))
        .bind(timestamp_of_seconds(expires_at))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some((learner_id, username, expires_at)))
}

/// Looks a token up, and notes its use when valid.
pub(super) async fn token_state(
    pool: &AnyPool,
    token: &str,
    now: i64,
) -> Result<TokenState, sqlx::Error> {
    type Row = (i64, i64, String, Option<String>, String, Option<String>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT t.id, t.learner_id, t.expires_at, t.revoked_at, a.username, a.deactivated_at
         FROM bridge_tokens t JOIN accounts a ON a.learner_id = t.learner_id WHERE t.token_hash = $1",
    )
    .bind(token_hash(token))
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => TokenState::Unknown,
        Some((_, _, _, Some(_), _, _)) => TokenState::Revoked,
        Some((_, _, _, None, _, Some(_))) => TokenState::Deactivated,
        Some((_, _, expires_at, None, _, None)) if seconds_of_timestamp(&expires_at) < now => {
            TokenState::Expired
        }
        Some((token_id, learner_id, _, None, username, None)) => {
            sqlx::query("UPDATE bridge_tokens SET last_used_at = $1 WHERE id = $2")
                .bind(timestamp_of_seconds(now))
                .bind(token_id)
                .execute(pool)
                .await?;
            TokenState::Valid {
                token_id,
                learner_id,
                username,
            }
        }
    })
}

/// The learner's paired machines that are neither revoked nor expired.
pub(super) async fn pairings(
    pool: &AnyPool,
    learner_id: i64,
    now: i64,
) -> Result<Vec<Pairing>, sqlx::Error> {
    let rows: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT id, label, created_at, expires_at, last_used_at FROM bridge_tokens WHERE learner_id = $1 AND revoked_at IS NULL AND expires_at >= $2 ORDER BY id DESC",
    )
    .bind(learner_id)
    .bind(timestamp_of_seconds(now))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, label, created_at, expires_at, last_used_at)| Pairing {
                id,
                label,
                created_at: seconds_of_timestamp(&created_at),
                expires_at: seconds_of_timestamp(&expires_at),
                last_used_at: last_used_at.as_deref().map(seconds_of_timestamp),
            },
        )
        .collect())
}

/// Revokes one of the learner's tokens; `false` if it is not theirs (or already revoked).
pub(super) async fn revoke(
    pool: &AnyPool,
    learner_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE bridge_tokens SET revoked_at = $1 WHERE id = $2 AND learner_id = $3 AND revoked_at IS NULL",
    )
    .bind(timestamp_of_seconds(now))
    .bind(id)
    .bind(learner_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The servers' shared secret: made by the first server that asks (a second at the same instant
/// finds the first one's), the same for every server of the database afterwards.
pub(super) async fn replica_secret(pool: &AnyPool, candidate: &str) -> Result<String, sqlx::Error> {
    sqlx::query(
        "INSERT INTO replica_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
    )
    .bind(candidate)
    .execute(pool)
    .await?;
    let (secret,): (String,) = sqlx::query_as("SELECT secret FROM replica_secret WHERE id = 1")
        .fetch_one(pool)
        .await?;
    Ok(secret)
}

/// Records that the server at `holder` now holds the learner's bridge (connection `serial`).
pub(super) async fn hold(
    pool: &AnyPool,
    learner_id: i64,
    holder: &str,
    serial: u64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO bridge_holders (learner_id, holder, serial, since) VALUES ($1, $2, $3, $4)
         ON CONFLICT (learner_id) DO UPDATE SET holder = excluded.holder, serial = excluded.serial, since = excluded.since",
    )
    .bind(learner_id)
    .bind(holder)
    .bind(serial as i64)
    .bind(timestamp_of_seconds(now))
    .execute(pool)
    .await
    .map(|_| ())
}

/// Forgets the record, unless a newer connection (here or on another server) replaced it.
pub(super) async fn release(
    pool: &AnyPool,
    learner_id: i64,
    holder: &str,
    serial: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bridge_holders WHERE learner_id = $1 AND holder = $2 AND serial = $3")
        .bind(learner_id)
        .bind(holder)
        .bind(serial as i64)
        .execute(pool)
        .await
        .map(|_| ())
}

/// The server that holds the learner's bridge, as it recorded itself.
pub(super) async fn holder(pool: &AnyPool, learner_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT holder FROM bridge_holders WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(holder,)| holder))
}

/// Forgets every record naming `holder`: its connections ended with its previous run.
pub(super) async fn release_all(pool: &AnyPool, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM bridge_holders WHERE holder = $1")
        .bind(holder)
        .execute(pool)
        .await
        .map(|_| ())
}
