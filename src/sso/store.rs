//! Sign-ins in progress, server-side and single-use.

use sqlx::AnyPool;

use crate::clock::{seconds_of_timestamp, timestamp_of_seconds};

/// A sign-in begun at `begin`: what `finish` needs to check the provider's answer.
pub(super) struct PendingLogin {
    pub(super) nonce: String,
    pub(super) pkce_verifier: String,
    pub(super) next: String,
    pub(super) created_at: i64,
}

pub(super) async fn insert(
    pool: &AnyPool,
    state_hash: &str,
    login: &PendingLogin,
) -> Result<(), sqlx::Error> {
    // Abandoned sign-ins are swept as new ones begin.
    sqlx::query("DELETE FROM sso_logins WHERE created_at < $1")
        .bind(timestamp_of_seconds(
            login.created_at - super::LOGIN_LIFETIME_SECS,
        ))
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO sso_logins (state_hash, nonce, pkce_verifier, next, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_hash)
    .bind(&login.nonce)
    .bind(&login.pkce_verifier)
    .bind(&login.next)
    .bind(timestamp_of_seconds(login.created_at))
    .execute(pool)
    .await
    .map(|_| ())
}

/// Takes the sign-in with this state: the second attempt with the same state finds nothing.
pub(super) async fn take(
    pool: &AnyPool,
    state_hash: &str,
) -> Result<Option<PendingLogin>, sqlx::Error> {
    let row: Option<(String, String, String, String)> = sqlx::query_as(
        "DELETE FROM sso_logins WHERE state_hash = $1 RETURNING nonce, pkce_verifier, next, created_at",
    )
    .bind(state_hash)
    .fetch_all(pool)
    .await?
    .pop();
    Ok(
        row.map(|(nonce, pkce_verifier, next, created_at)| PendingLogin {
            nonce,
            pkce_verifier,
            next,
            created_at: seconds_of_timestamp(&created_at),
        }),
    )
}
