//! Accounts and sessions in SQLite.

use sqlx::AnyPool;

use super::{Account, AuthError, IdentityKey, Origin, Role, Session, User};

type AccountRow = (i64, String, String, String);

fn user_of((learner_id, username, role, _): &AccountRow) -> User {
    User {
        learner_id: *learner_id,
        username: username.clone(),
        role: Role::parse(role).unwrap_or(Role::Learner),
    }
}

/// What a new account is made of.
#[derive(Clone, Copy)]
pub(super) struct NewAccount<'a> {
    pub(super) username: &'a str,
    pub(super) role: Role,
    pub(super) password_hash: &'a str,
    pub(super) cohort: Option<&'a str>,
    pub(super) origin: Origin,
    /// The provider identity it is linked to, if any.
    pub(super) identity: Option<&'a IdentityKey>,
}

/// Creates one account; see [`insert_accounts`].
pub(super) async fn insert_account(
    pool: &AnyPool,
    account: NewAccount<'_>,
) -> Result<User, AuthError> {
    insert_accounts(pool, std::slice::from_ref(&account))
        .await?
        .pop()
        .unwrap_or(Err(AuthError::Database(sqlx::Error::RowNotFound)))
}

/// How many times a batch is tried again when SQLite reports the database busy.
const BUSY_RETRIES: u32 = 5;

/// Creates accounts in one transaction: all of them or, if the database fails, none (so no
/// account exists whose generated password nobody was shown). Each account's own refusal (a name
/// taken, an identity linked already) is its result and does not stop the others.
///
/// Each account's first statement is a write, so that SQLite takes the write lock at once and
/// waits for it with its busy timeout; a transaction that read first could not upgrade while
/// others write (`SQLITE_BUSY_SNAPSHOT`). A busy database is tried again a few times.
pub(super) async fn insert_accounts(
    pool: &AnyPool,
    accounts: &[NewAccount<'_>],
) -> Result<Vec<Result<User, AuthError>>, sqlx::Error> {
    let mut attempt = 0;
    loop {
        match try_insert_accounts(pool, accounts).await {
            Err(e) if crate::db::is_busy(&e) && attempt < BUSY_RETRIES => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            result => return result,
        }
    }
}

async fn try_insert_accounts(
    pool: &AnyPool,
    accounts: &[NewAccount<'_>],
) -> Result<Vec<Result<User, AuthError>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut results = Vec::with_capacity(accounts.len());
    for account in accounts {
        results.push(insert_one(&mut tx, account).await?);
    }
    tx.commit().await?;
    Ok(results)
}

/// One account inside [`insert_accounts`]'s transaction: `Err` for the database, `Ok(Err)` for
/// this account's own refusal, which leaves nothing of it behind.
async fn insert_one(
    tx: &mut sqlx::AnyConnection,
    account: &NewAccount<'_>,
) -> Result<Result<User, AuthError>, sqlx::Error> {
    let NewAccount {
        username,
        role,
        password_hash,
        cohort,
        origin,
        identity,
    } = *account;
    let learner: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO learners (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(format!("account:{username}"))
    .fetch_all(&mut *tx)
    .await?
    .pop();
    let Some((learner_id,)) = learner else {
        return Ok(Err(AuthError::UsernameTaken(username.to_owned())));
    };
    let refused = async |tx: &mut sqlx::AnyConnection, error: AuthError| {
        sqlx::query("DELETE FROM learners WHERE id = $1")
            .bind(learner_id)
            .execute(tx)
            .await
            .map(|_| Err(error))
    };
    // `ON CONFLICT DO NOTHING`: a name another request (or server) took first is refused without
    // aborting the transaction, which PostgreSQL would do on a unique-key error.
    let created = sqlx::query(
        "INSERT INTO accounts (learner_id, username, role, password_hash, cohort, origin)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE lower(username) = lower($2))
         ON CONFLICT DO NOTHING",
    )
    .bind(learner_id)
    .bind(username)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(cohort)
    .bind(origin.as_str())
    .execute(&mut *tx)
    .await?;
    if created.rows_affected() == 0 {
        return refused(tx, AuthError::UsernameTaken(username.to_owned())).await;
    }
    if let Some(key) = identity {
        let linked = sqlx::query(
            "INSERT INTO account_identities (issuer, client_id, deployment_id, subject, learner_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&key.issuer)
        .bind(&key.client_id)
        .bind(&key.deployment_id)
        .bind(&key.subject)
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
        if linked.rows_affected() == 0 {
            sqlx::query("DELETE FROM accounts WHERE learner_id = $1")
                .bind(learner_id)
                .execute(&mut *tx)
                .await?;
            return refused(tx, AuthError::IdentityTaken(key.subject.clone())).await;
        }
    }
    Ok(Ok(User {
        learner_id,
        username: username.to_owned(),
        role,
    }))
}

/// The account linked to a provider identity: (user, active).
pub(super) async fn find_identity(
    pool: &AnyPool,
    key: &IdentityKey,
) -> Result<Option<(User, bool)>, sqlx::Error> {
    let row: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT a.learner_id, a.username, a.role, a.deactivated_at FROM account_identities i
         JOIN accounts a ON a.learner_id = i.learner_id
         WHERE i.issuer = $1 AND i.client_id = $2 AND i.deployment_id = $3 AND i.subject = $4",
    )
    .bind(&key.issuer)
    .bind(&key.client_id)
    .bind(&key.deployment_id)
    .bind(&key.subject)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(learner_id, username, role, deactivated)| {
        (
            user_of(&(learner_id, username, role, String::new())),
            deactivated.is_none(),
        )
    }))
}

/// Links `key` to the account an identity keyed by its issuer and subject alone belongs to (one
/// linked before identities carried the LTI registration and deployment), unless `key` is linked
/// already; `true` when it linked.
pub(super) async fn adopt_issuer_only_identity(
    pool: &AnyPool,
    key: &IdentityKey,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO account_identities (issuer, client_id, deployment_id, subject, learner_id)
         SELECT issuer, $2, $3, subject, learner_id FROM account_identities
         WHERE issuer = $1 AND client_id = '' AND deployment_id = '' AND subject = $4
         ON CONFLICT DO NOTHING",
    )
    .bind(&key.issuer)
    .bind(&key.client_id)
    .bind(&key.deployment_id)
    .bind(&key.subject)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Makes an instructor's role hold only for the cohorts listed for them, and lists `cohort`.
pub(super) async fn add_staff_cohort(
    pool: &AnyPool,
    learner_id: i64,
    cohort: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE accounts SET staff_scope = 'cohorts' WHERE learner_id = $1")
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
    if let Some(cohort) = cohort {
        sqlx::query(
            "INSERT INTO staff_cohorts (learner_id, cohort) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(learner_id)
        .bind(cohort)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Whether an account's staff role holds for the whole portal (`portal`) or its listed cohorts.
pub(super) async fn staff_scope(
    pool: &AnyPool,
    learner_id: i64,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT staff_scope FROM accounts WHERE learner_id = $1")
        .bind(learner_id)
        .fetch_optional(pool)
        .await
}

/// How the account came to be (see [`Origin`]).
pub(super) async fn origin(pool: &AnyPool, learner_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT origin FROM accounts WHERE learner_id = $1")
            .bind(learner_id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(o,)| o))
}

/// Whether a user name is in use.
pub(super) async fn username_taken(pool: &AnyPool, username: &str) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT learner_id FROM accounts WHERE lower(username) = lower($1)")
            .bind(username)
            .fetch_optional(pool)
            .await?;
    Ok(row.is_some())
}

pub(super) async fn find_account(
    pool: &AnyPool,
    username: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let row: Option<AccountRow> = sqlx::query_as(
        "SELECT learner_id, username, role, password_hash FROM accounts WHERE lower(username) = lower($1)",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| (user_of(&row), row.3)))
}

/// Whether the account may sign in (not deactivated).
pub(super) async fn is_active(pool: &AnyPool, learner_id: i64) -> Result<bool, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT learner_id FROM accounts WHERE learner_id = $1 AND deactivated_at IS NULL",
    )
    .bind(learner_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.is_some())
}

/// Every account by user name, or the one with `learner_id`.
pub(super) async fn accounts(
    pool: &AnyPool,
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
         WHERE $1 IS NULL OR learner_id = $1 ORDER BY username",
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

/// Holds the admins' rows until the transaction ends, so that two changes which each leave
/// "another admin" cannot both pass on PostgreSQL, where writers run at once (SQLite runs one
/// writer at a time, and has no `FOR UPDATE`).
async fn lock_admins(tx: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    if tx.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT learner_id FROM accounts WHERE role = 'admin' FOR UPDATE")
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Sets role and cohort; `false` when refused because no active admin would remain.
pub(super) async fn update_account(
    pool: &AnyPool,
    learner_id: i64,
    role: Role,
    cohort: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_admins(&mut tx).await?;
    let done = sqlx::query(&format!(
        "UPDATE accounts SET role = $1, cohort = $2 WHERE learner_id = $3 AND ($4 = 'admin' OR {ANOTHER_ADMIN_REMAINS})"
    ))
    .bind(role.as_str())
    .bind(cohort)
    .bind(learner_id)
    .bind(role.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// What the provider's claims say at a sign-in: the role (`None`: keep) and the cohort (`None`:
/// keep); `false` when refused because no active admin would remain.
pub(super) async fn apply_provider_mapping(
    pool: &AnyPool,
    learner_id: i64,
    role: Option<Role>,
    cohort: Option<Option<&str>>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_admins(&mut tx).await?;
    let done = sqlx::query(&format!(
        "UPDATE accounts SET role = coalesce($1, role), cohort = CASE WHEN $2 THEN $3 ELSE cohort END
         WHERE learner_id = $4 AND (coalesce($1, role) = 'admin' OR {ANOTHER_ADMIN_REMAINS})"
    ))
    .bind(role.map(Role::as_str))
    .bind(cohort.is_some())
    .bind(cohort.flatten())
    .bind(learner_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Deactivates and ends every session and bridge token use; `false` when refused because no
/// active admin would remain.
pub(super) async fn deactivate(pool: &AnyPool, learner_id: i64) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    lock_admins(&mut tx).await?;
    let done = sqlx::query(&format!(
        "UPDATE accounts SET deactivated_at = coalesce(deactivated_at, $2)
         WHERE learner_id = $1 AND {ANOTHER_ADMIN_REMAINS}"
    ))
    .bind(learner_id)
    .bind(crate::clock::timestamp_now())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM sessions WHERE learner_id = $1")
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn reactivate(pool: &AnyPool, learner_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET deactivated_at = NULL WHERE learner_id = $1")
        .bind(learner_id)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn insert_session(
    pool: &AnyPool,
    token_hash: &str,
    learner_id: i64,
    csrf_token: &str,
    frame_ancestors: &[String],
    now: u64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO sessions (token_hash, learner_id, csrf_token, frame_ancestors, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(token_hash)
        .bind(learner_id)
        .bind(csrf_token)
        .bind((!frame_ancestors.is_empty()).then(|| frame_ancestors.join(" ")))
        .bind(crate::clock::timestamp_of_seconds(now as i64))
        .bind(crate::clock::timestamp_of_seconds(now as i64))
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE accounts SET last_sign_in_at = $2 WHERE learner_id = $1")
        .bind(learner_id)
        .bind(crate::clock::timestamp_now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

pub(super) async fn find_session(
    pool: &AnyPool,
    token_hash: &str,
) -> Result<Option<(Session, u64, u64)>, sqlx::Error> {
    type Row = (i64, String, String, String, Option<String>, String, String);
    let row: Option<Row> = sqlx::query_as(
        "SELECT a.learner_id, a.username, a.role, s.csrf_token, s.frame_ancestors, s.created_at, s.last_seen_at
         FROM sessions s JOIN accounts a ON a.learner_id = s.learner_id
         WHERE s.token_hash = $1 AND a.deactivated_at IS NULL",
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
            (
                session,
                crate::clock::seconds_of_timestamp(&created) as u64,
                crate::clock::seconds_of_timestamp(&seen) as u64,
            )
        },
    ))
}

pub(super) async fn sessions_seen_since(pool: &AnyPool, since: u64) -> Result<u64, sqlx::Error> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE last_seen_at >= $1")
        .bind(crate::clock::timestamp_of_seconds(since as i64))
        .fetch_one(pool)
        .await?;
    Ok(count as u64)
}

pub(super) async fn touch_session(
    pool: &AnyPool,
    token_hash: &str,
    now: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(crate::clock::timestamp_of_seconds(now as i64))
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

pub(super) async fn delete_session(pool: &AnyPool, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|_| ())
}

/// A new password hash; every session of the account ends except `keep_session` (the one that
/// changed its own password), or all of them (an admin's reset).
pub(super) async fn update_password(
    pool: &AnyPool,
    learner_id: i64,
    password_hash: &str,
    keep_session: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE accounts SET password_hash = $1 WHERE learner_id = $2")
        .bind(password_hash)
        .bind(learner_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE learner_id = $1 AND ($2 IS NULL OR token_hash <> $2)")
        .bind(learner_id)
        .bind(keep_session)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Whether `account` signed in from `address` since `since_ms`.
pub(super) async fn address_known(
    pool: &AnyPool,
    account: &str,
    address: &str,
    since_ms: i64,
) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sign_in_addresses WHERE account = $1 AND address = $2 AND signed_in_at >= $3",
    )
    .bind(account)
    .bind(address)
    .bind(crate::clock::timestamp_of_millis(since_ms))
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// Failures counted against `key` since `since_ms`, and when the oldest of them was.
pub(super) async fn failures_since(
    pool: &AnyPool,
    key: &str,
    since_ms: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let (count, oldest): (i64, Option<String>) = sqlx::query_as(
        "SELECT count(*), min(failed_at) FROM sign_in_failures WHERE key = $1 AND failed_at > $2",
    )
    .bind(key)
    .bind(crate::clock::timestamp_of_millis(since_ms))
    .fetch_one(pool)
    .await?;
    Ok((
        count,
        oldest.map_or(since_ms, |at| crate::clock::millis_of_timestamp(&at)),
    ))
}

/// One failure against each of `keys`, forgetting those older than `forget_before_ms`.
pub(super) async fn record_failure(
    pool: &AnyPool,
    keys: &[String],
    now_ms: i64,
    forget_before_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for key in keys {
        sqlx::query("INSERT INTO sign_in_failures (key, failed_at) VALUES ($1, $2)")
            .bind(key)
            .bind(crate::clock::timestamp_of_millis(now_ms))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("DELETE FROM sign_in_failures WHERE failed_at <= $1")
        .bind(crate::clock::timestamp_of_millis(forget_before_ms))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// A sign-in of `account` from `address`: the failures of `pair_key` are forgotten, and the
/// address is known for the account from `now_ms`.
pub(super) async fn record_success(
    pool: &AnyPool,
    pair_key: &str,
    (account, address): (&str, &str),
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
        .bind(pair_key)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO sign_in_addresses (account, address, signed_in_at) VALUES ($1, $2, $3)
         ON CONFLICT (account, address) DO UPDATE SET signed_in_at = excluded.signed_in_at",
    )
    .bind(account)
    .bind(address)
    .bind(crate::clock::timestamp_of_millis(now_ms))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
