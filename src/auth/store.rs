//! Accounts and sessions in SQLite.

use sqlx::SqlitePool;

use super::accounts::Account;
use super::{AuthError, Origin, Role, Session, User};

type AccountRow = (i64, String, String, String);

fn user_of((learner_id, username, role, _): &AccountRow) -> User {
    User {
        learner_id: *learner_id,
        username: username.clone(),
        role: Role::parse(role).unwrap_or(Role::Learner),
    }
}

/// What a new account is made of.
pub(super) struct NewAccount<'a> {
    pub(super) username: &'a str,
    pub(super) role: Role,
    pub(super) password_hash: &'a str,
    pub(super) cohort: Option<&'a str>,
    pub(super) origin: Origin,
    /// The provider identity (issuer, subject) it is linked to, if any.
    pub(super) identity: Option<(&'a str, &'a str)>,
}

pub(super) async fn insert_account(
    pool: &SqlitePool,
    account: NewAccount<'_>,
) -> Result<User, AuthError> {
    let NewAccount {
        username,
        role,
        password_hash,
        cohort,
        origin,
        identity,
    } = account;
    let mut tx = pool.begin().await?;
    let taken: Option<(i64,)> =
        sqlx::query_as("SELECT learner_id FROM accounts WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
    if taken.is_some() {
        return Err(AuthError::UsernameTaken(username.to_owned()));
    }
    let (learner_id,): (i64,) =
        sqlx::query_as("INSERT INTO learners (name) VALUES (?) RETURNING id")
            .bind(format!("account:{username}"))
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO accounts (learner_id, username, role, password_hash, cohort, origin) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(learner_id)
    .bind(username)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(cohort)
    .bind(origin.as_str())
    .execute(&mut *tx)
    .await?;
    if let Some((issuer, subject)) = identity {
        let linked = sqlx::query(
            "INSERT INTO account_identities (issuer, subject, learner_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(issuer)
        .bind(subject)
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
        if linked.rows_affected() == 0 {
            return Err(AuthError::IdentityTaken(subject.to_owned()));
        }
    }
    tx.commit().await?;
    Ok(User {
        learner_id,
        username: username.to_owned(),
        role,
    })
}

/// The account linked to a provider identity: (user, active).
pub(super) async fn find_identity(
    pool: &SqlitePool,
    issuer: &str,
    subject: &str,
) -> Result<Option<(User, bool)>, sqlx::Error> {
    let row: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT a.learner_id, a.username, a.role, a.deactivated_at FROM account_identities i
         JOIN accounts a ON a.learner_id = i.learner_id WHERE i.issuer = ? AND i.subject = ?",
    )
    .bind(issuer)
    .bind(subject)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(learner_id, username, role, deactivated)| {
        (
            user_of(&(learner_id, username, role, String::new())),
            deactivated.is_none(),
        )
    }))
}

/// How the account came to be (see [`Origin`]).
pub(super) async fn origin(
    pool: &SqlitePool,
    learner_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as("SELECT origin FROM accounts WHERE learner_id = ?")
        .bind(learner_id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(o,)| o))
}

/// Whether a user name is in use.
pub(super) async fn username_taken(pool: &SqlitePool, username: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT learner_id FROM accounts WHERE username = ?")
        .bind(username)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

pub(super) async fn find_account(
    pool: &SqlitePool,
    username: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let row: Option<AccountRow> = sqlx::query_as(
        "SELECT learner_id, username, role, password_hash FROM accounts WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (user_of(&row), row.3)))
}

/// Whether the account may sign in (not deactivated).
pub(super) async fn is_active(pool: &SqlitePool, learner_id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT learner_id FROM accounts WHERE learner_id = ? AND deactivated_at IS NULL",
    )
    .bind(learner_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// Every account by user name, or the one with `learner_id`.
pub(super) async fn accounts(
    pool: &SqlitePool,
    learner_id: Option<i64>,
) -> Result<Vec<Account>, sqlx::Error> {
    type Row = (
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT learner_id, username, role, cohort, last_sign_in_at, deactivated_at FROM accounts
         WHERE ?1 IS NULL OR learner_id = ?1 ORDER BY username",
    )
    .bind(learner_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(learner_id, username, role, cohort, last_sign_in, deactivated)| Account {
                learner_id,
                username,
                role: Role::parse(&role).unwrap_or(Role::Learner),
                cohort,
                last_sign_in,
                deactivated,
            },
        )
        .collect())
}

/// The condition under which an account may stop being an active admin: it is not one, or another
/// active admin remains.
const ANOTHER_ADMIN_REMAINS: &str = "(role <> 'admin' OR deactivated_at IS NOT NULL OR EXISTS (
    SELECT 1 FROM accounts other WHERE other.role = 'admin' AND other.deactivated_at IS NULL
    AND other.learner_id <> accounts.learner_id))";

/// Sets role and cohort; `false` when refused because no active admin would remain.
pub(super) async fn update_account(
    pool: &SqlitePool,
    learner_id: i64,
    role: Role,
    cohort: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE accounts SET role = ?, cohort = ? WHERE learner_id = ? AND (? = 'admin' OR {ANOTHER_ADMIN_REMAINS})"
    ))
    .bind(role.as_str())
    .bind(cohort)
    .bind(learner_id)
    .bind(role.as_str())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What the provider's claims say at a sign-in: the role (`None`: keep) and the cohort (`None`:
/// keep); `false` when refused because no active admin would remain.
pub(super) async fn apply_provider_mapping(
    pool: &SqlitePool,
    learner_id: i64,
    role: Option<Role>,
    cohort: Option<Option<&str>>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(&format!(
        "UPDATE accounts SET role = coalesce(?1, role), cohort = CASE WHEN ?2 THEN ?3 ELSE cohort END
         WHERE learner_id = ?4 AND (coalesce(?1, role) = 'admin' OR {ANOTHER_ADMIN_REMAINS})"
    ))
    .bind(role.map(Role::as_str))
    .bind(cohort.is_some())
    .bind(cohort.flatten())
    .bind(learner_id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deactivates and ends every session and bridge token use; `false` when refused because no
/// active admin would remain.
pub(super) async fn deactivate(pool: &SqlitePool, learner_id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(&format!(
        "UPDATE accounts SET deactivated_at = coalesce(deactivated_at, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
         WHERE learner_id = ? AND {ANOTHER_ADMIN_REMAINS}"
    ))
    .bind(learner_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM sessions WHERE learner_id = ?")
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn reactivate(pool: &SqlitePool, learner_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET deactivated_at = NULL WHERE learner_id = ?")
        .bind(learner_id)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn insert_session(
    pool: &SqlitePool,
    token_hash: &str,
    learner_id: i64,
    csrf_token: &str,
    frame_ancestors: &[String],
    now: u64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO sessions (token_hash, learner_id, csrf_token, frame_ancestors, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(token_hash)
        .bind(learner_id)
        .bind(csrf_token)
        .bind((!frame_ancestors.is_empty()).then(|| frame_ancestors.join(" ")))
        .bind(now as i64)
        .bind(now as i64)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE accounts SET last_sign_in_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE learner_id = ?")
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub(super) async fn find_session(
    pool: &SqlitePool,
    token_hash: &str,
) -> Result<Option<(Session, u64, u64)>, sqlx::Error> {
    type Row = (i64, String, String, String, Option<String>, i64, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.learner_id, a.username, a.role, s.csrf_token, s.frame_ancestors, s.created_at, s.last_seen_at
         FROM sessions s JOIN accounts a ON a.learner_id = s.learner_id
         WHERE s.token_hash = ? AND a.deactivated_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(
        |(learner_id, username, role, csrf_token, frames, created, seen)| {
            let session = Session {
                user: user_of(&(learner_id, username, role, String::new())),
                csrf_token,
                frame_ancestors: frames
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
            };
            (session, created as u64, seen as u64)
        },
    ))
}

pub(super) async fn sessions_seen_since(pool: &SqlitePool, since: u64) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE last_seen_at >= ?")
        .bind(since as i64)
        .fetch_one(pool)
        .await?;
    Ok(count as u64)
}

pub(super) async fn touch_session(
    pool: &SqlitePool,
    token_hash: &str,
    now: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?")
        .bind(now as i64)
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn delete_session(pool: &SqlitePool, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

/// A new password hash; every session of the account ends except `keep_session` (the one that
/// changed its own password), or all of them (an admin's reset).
pub(super) async fn update_password(
    pool: &SqlitePool,
    learner_id: i64,
    password_hash: &str,
    keep_session: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE accounts SET password_hash = ? WHERE learner_id = ?")
        .bind(password_hash)
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE learner_id = ?1 AND (?2 IS NULL OR token_hash <> ?2)")
        .bind(learner_id)
        .bind(keep_session)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Whether `account` signed in from `address` since `since_ms`.
pub(super) async fn address_known(
    pool: &SqlitePool,
    account: &str,
    address: &str,
    since_ms: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sign_in_addresses WHERE account = ? AND address = ? AND at_ms >= ?",
    )
    .bind(account)
    .bind(address)
    .bind(since_ms)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Failures counted against `key` since `since_ms`, and when the oldest of them was.
pub(super) async fn failures_since(
    pool: &SqlitePool,
    key: &str,
    since_ms: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let (count, oldest): (i64, Option<i64>) = sqlx::query_as(
        "SELECT count(*), min(at_ms) FROM sign_in_failures WHERE key = ? AND at_ms > ?",
    )
    .bind(key)
    .bind(since_ms)
    .fetch_one(pool)
    .await?;
    Ok((count, oldest.unwrap_or(since_ms)))
}

/// One failure against each of `keys`, forgetting those older than `forget_before_ms`.
pub(super) async fn record_failure(
    pool: &SqlitePool,
    keys: &[String],
    now_ms: i64,
    forget_before_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for key in keys {
        sqlx::query("INSERT INTO sign_in_failures (key, at_ms) VALUES (?, ?)")
            .bind(key)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM sign_in_failures WHERE at_ms <= ?")
        .bind(forget_before_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A sign-in of `account` from `address`: the failures of `pair_key` are forgotten, and the
/// address is known for the account from `now_ms`.
pub(super) async fn record_success(
    pool: &SqlitePool,
    pair_key: &str,
    (account, address): (&str, &str),
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM sign_in_failures WHERE key = ?")
        .bind(pair_key)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sign_in_addresses (account, address, at_ms) VALUES (?, ?, ?)
         ON CONFLICT (account, address) DO UPDATE SET at_ms = excluded.at_ms",
    )
    .bind(account)
    .bind(address)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
