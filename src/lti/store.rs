//! Registered platforms and launches in progress.

use sqlx::SqlitePool;

use super::Platform;

type PlatformRow = (i64, String, String, String, String, String, String, String);

fn platform_of(row: PlatformRow) -> Platform {
    let (id, name, issuer, client_id, auth_url, token_url, jwks_url, deployments) = row;
    Platform {
        id,
        name,
        issuer,
        client_id,
        auth_url,
        token_url,
        jwks_url,
        deployment_ids: serde_json::from_str(&deployments).unwrap_or_default(),
    }
}

const COLUMNS: &str =
    "id, name, issuer, client_id, auth_url, token_url, jwks_url, deployment_ids FROM lti_platforms";

pub(super) async fn insert(pool: &SqlitePool, platform: &Platform) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO lti_platforms (name, issuer, client_id, auth_url, token_url, jwks_url, deployment_ids)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issuer, client_id) DO NOTHING",
    )
    .bind(&platform.name)
    .bind(&platform.issuer)
    .bind(&platform.client_id)
    .bind(&platform.auth_url)
    .bind(&platform.token_url)
    .bind(&platform.jwks_url)
    .bind(serde_json::to_string(&platform.deployment_ids).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn all(pool: &SqlitePool) -> Result<Vec<Platform>, sqlx::Error> {
    let rows: Vec<PlatformRow> = sqlx::query_as(&format!("SELECT {COLUMNS} ORDER BY name"))
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(platform_of).collect())
}

/// The platforms with this issuer (one per client id Lectern has there).
pub(super) async fn by_issuer(
    pool: &SqlitePool,
    issuer: &str,
) -> Result<Vec<Platform>, sqlx::Error> {
    let rows: Vec<PlatformRow> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE issuer = ?"))
        .bind(issuer)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(platform_of).collect())
}

pub(super) async fn by_id(pool: &SqlitePool, id: i64) -> Result<Option<Platform>, sqlx::Error> {
    let row: Option<PlatformRow> = sqlx::query_as(&format!("SELECT {COLUMNS} WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(platform_of))
}

pub(super) async fn insert_launch(
    pool: &SqlitePool,
    state_hash: &str,
    nonce: &str,
    platform_id: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM lti_launches WHERE created_at < ?")
        .bind(now - super::LAUNCH_LIFETIME_SECS)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO lti_launches (state_hash, nonce, platform_id, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(state_hash)
    .bind(nonce)
    .bind(platform_id)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Takes a launch in progress: (nonce, platform id, created at); the second take finds nothing.
pub(super) async fn take_launch(
    pool: &SqlitePool,
    state_hash: &str,
) -> Result<Option<(String, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM lti_launches WHERE state_hash = ? RETURNING nonce, platform_id, created_at",
    )
    .bind(state_hash)
    .fetch_optional(pool)
    .await
}

/// Lectern's tool keys created after `since`, newest first: (kid, private key PEM, created at).
pub(super) async fn tool_keys(
    pool: &SqlitePool,
    since: i64,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kid, private_pem, created_at FROM lti_tool_keys WHERE created_at > ? ORDER BY created_at DESC",
    )
    .bind(since)
    .fetch_all(pool)
    .await
}

pub(super) async fn insert_tool_key(
    pool: &SqlitePool,
    kid: &str,
    private_pem: &str,
    created_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO lti_tool_keys (kid, private_pem, created_at) VALUES (?, ?, ?)")
        .bind(kid)
        .bind(private_pem)
        .bind(created_at)
        .execute(pool)
        .await
        .map(|_| ())
}
