//! The account lifecycle admins run, in the browser and from the command line: the list with cohort
//! and last sign-in, a password reset (the new password shown once), role and cohort changes, and
//! deactivation (sessions end at once; the person's work is kept) and reactivation.
//!
//! Changes that would leave the portal without an active admin are refused, so nobody locks
//! everyone out by mistake.

use sqlx::AnyPool;

use super::{Account, AuthError, Hasher, Role, password, store};

/// Every account, by user name.
pub async fn list(pool: &AnyPool) -> Result<Vec<Account>, sqlx::Error> {
    store::accounts(pool, None).await
}

/// One account, by its learner id.
pub async fn find(pool: &AnyPool, learner_id: i64) -> Result<Account, AuthError> {
    store::accounts(pool, Some(learner_id))
        .await?
        .pop()
        .ok_or_else(|| AuthError::NoSuchAccount(format!("id {learner_id}")))
}

/// One account, by user name (for the command line).
pub async fn find_by_name(pool: &AnyPool, username: &str) -> Result<Account, AuthError> {
    let found = store::find_account(pool, username).await?;
    match found {
        Some((user, _)) => find(pool, user.learner_id).await,
        None => Err(AuthError::NoSuchAccount(format!("`{username}`"))),
    }
}

/// Gives the account a new generated password and ends all its sessions; answers the password,
/// which is shown once and stored only as its hash.
pub async fn reset_password(
    pool: &AnyPool,
    hasher: &Hasher,
    learner_id: i64,
) -> Result<String, AuthError> {
    find(pool, learner_id).await?;
    let generated = password::generate();
    store::update_password(pool, learner_id, &hasher.hash(&generated).await?, None).await?;
    Ok(generated)
}

/// Sets the role and cohort (an empty cohort removes it). A new role applies to the person's very
/// next request; an admin cannot be made something else if no other active admin would remain.
pub async fn update(
    pool: &AnyPool,
    learner_id: i64,
    role: Role,
    cohort: Option<&str>,
) -> Result<Account, AuthError> {
    find(pool, learner_id).await?;
    let cohort = cohort.map(str::trim).filter(|c| !c.is_empty());
    if !store::update_account(pool, learner_id, role, cohort).await? {
        return Err(AuthError::LastAdmin);
    }
    find(pool, learner_id).await
}

/// Stops the account from signing in and ends its sessions at once; its work stays.
pub async fn deactivate(pool: &AnyPool, learner_id: i64) -> Result<Account, AuthError> {
    find(pool, learner_id).await?;
    if !store::deactivate(pool, learner_id).await? {
        return Err(AuthError::LastAdmin);
    }
    find(pool, learner_id).await
}

/// Lets a deactivated account sign in again (with its old password).
pub async fn reactivate(pool: &AnyPool, learner_id: i64) -> Result<Account, AuthError> {
    find(pool, learner_id).await?;
    store::reactivate(pool, learner_id).await?;
    find(pool, learner_id).await
}

/// Generated credentials as one CSV file (`username,password`, RFC 4180, CRLF) for the admin to
/// hand over; built into the page, never stored. Generated passwords are letters and digits; a user
/// name a spreadsheet would run as a formula (`-x`, `@x`) gets a leading `'`.
pub fn credentials_csv(created: &[(&str, &str)]) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let rows = std::iter::once(("username", "password")).chain(created.iter().copied());
    for (username, password) in rows {
        let username = if username.starts_with(['=', '+', '-', '@']) {
            format!("'{username}")
        } else {
            username.to_owned()
        };
        // Writing to a Vec cannot fail.
        writer.write_record([username.as_str(), password]).ok();
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
