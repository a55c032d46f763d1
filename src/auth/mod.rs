//! Who is signed in, and what they may do (portal mode). Personal mode has no accounts: everything
//! belongs to the one local learner.
//!
//! Passwords are Argon2id ([`password`]); sessions live in SQLite, keyed by the SHA-256 of a random
//! token that only the browser's cookie holds, with idle and absolute expiry; a fresh token is issued
//! at every sign-in, so a session id planted before sign-in is worthless. Failed sign-ins and
//! current-password checks are throttled per (account, address) and per address ([`rate_limit`]).

pub mod accounts;
pub mod identity;
pub mod password;
pub mod rate_limit;
mod store;

use std::net::IpAddr;
use std::time::Duration;

use sqlx::AnyPool;

use crate::secrets::{constant_time_eq, random_hex, token_hash};

pub use password::Hasher;

/// What guards passwords in a running server: the bounded Argon2 pool (the guessing throttle,
/// [`rate_limit`], is in the database).
#[derive(Debug, Default)]
pub struct Passwords {
    /// Argon2 off the async runtime.
    pub hasher: Hasher,
}

/// What a person may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads modules, runs checks, answers questions; sees only their own progress.
    Learner,
    /// Also follows cohorts and grades.
    Instructor,
    /// Also manages accounts.
    Admin,
}

impl Role {
    /// `learner`, `instructor` or `admin`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "learner" => Ok(Role::Learner),
            "instructor" => Ok(Role::Instructor),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`: use learner, instructor or admin"
            )),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Learner => "learner",
            Role::Instructor => "instructor",
            Role::Admin => "admin",
        }
    }
}

/// A person with an account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Their learner row, which owns their progress.
    pub learner_id: i64,
    /// What they sign in with (case-insensitive).
    pub username: String,
    /// What they may do.
    pub role: Role,
}

/// One account as the admin list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Their learner row.
    pub learner_id: i64,
    /// What they sign in with.
    pub username: String,
    /// What they may do.
    pub role: Role,
    /// Their cohort, if any.
    pub cohort: Option<String>,
    /// When they last signed in (RFC 3339); `None` if never.
    pub last_sign_in: Option<String>,
    /// When they were deactivated; `None` while they may sign in.
    pub deactivated: Option<String>,
}

impl Account {
    /// They may sign in.
    pub fn is_active(&self) -> bool {
        self.deactivated.is_none()
    }
}

/// Whose `sub` a subject is. An OpenID provider's subjects are unique under its issuer; an LTI
/// platform's only under Lectern's registration there (client id) and the deployment, because
/// several registrations may share an issuer (Canvas cloud's is every school's), and one platform
/// must never sign in as another's people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKey {
    /// The provider's issuer URL.
    pub issuer: String,
    /// Lectern's client id at an LTI platform; empty for single sign-on.
    pub client_id: String,
    /// The LTI deployment; empty for single sign-on.
    pub deployment_id: String,
    /// The provider's stable identifier for the person.
    pub subject: String,
}

impl IdentityKey {
    /// A single sign-on identity: the issuer alone scopes its subjects.
    pub fn single_sign_on(issuer: &str, subject: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            client_id: String::new(),
            deployment_id: String::new(),
            subject: subject.to_owned(),
        }
    }
}

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub user: User,
    /// Must accompany every state-changing request of this session.
    pub csrf_token: String,
    /// Origins whose pages may frame this session's pages: the learning platform of an LTI
    /// launch. Empty for every other session (nobody may frame them).
    pub frame_ancestors: Vec<String>,
}

impl Session {
    /// Constant-time comparison of a submitted CSRF token.
    pub fn csrf_matches(&self, submitted: &str) -> bool {
        constant_time_eq(self.csrf_token.as_bytes(), submitted.as_bytes())
    }
}

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Ends a session unused for this long.
    pub idle: Duration,
    /// Ends any session this long after sign-in.
    pub absolute: Duration,
}

/// What can go wrong with accounts and sign-in; messages are safe to show.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user or wrong password: deliberately the same message.
    #[error("the user name or password is not right")]
    InvalidCredentials,
    /// Too many failed attempts.
    #[error("too many failed password attempts from here; try again in {} minutes", .0.as_secs().div_ceil(60))]
    Throttled(Duration),
    /// The user name is in use.
    #[error("the user name `{0}` is already taken")]
    UsernameTaken(String),
    /// The user name breaks the rules.
    #[error("{0}")]
    InvalidUsername(String),
    /// The new password breaks the rules.
    #[error("the new password is too weak: {0}")]
    WeakPassword(String),
    /// Too many password checks at once (see [`password::Busy`]).
    #[error(transparent)]
    Busy(#[from] password::Busy),
    /// The account exists but was deactivated by an admin (said only after the right password).
    #[error("this account is deactivated: ask an admin of this portal to reactivate it")]
    Deactivated,
    /// No account has that id or name.
    #[error("there is no account {0}")]
    NoSuchAccount(String),
    /// The change would leave no active admin.
    #[error("that would leave no active admin: make someone else an admin first")]
    LastAdmin,
    /// This portal takes passwords only from break-glass accounts (said only after the right
    /// password).
    #[error("this portal signs you in through your organisation's sign-in: use the button above")]
    PasswordSignInOff,
    /// Single sign-on: no account is linked to this identity, and accounts are not created at
    /// first sign-in.
    #[error(
        "you signed in at your organisation, but there is no account for you here: ask an admin of this portal to add you"
    )]
    NotProvisioned,
    /// Single sign-on: another account is already linked to this identity.
    #[error("another account is already linked to the identity `{0}`")]
    IdentityTaken(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// How an account came to be; `Cli` accounts keep password sign-in when it is otherwise off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// `lectern user add`: break-glass.
    Cli,
    /// The Users page (one at a time or imported).
    Admin,
    /// Created at a first single sign-on.
    Sso,
}

impl Origin {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Admin => "admin",
            Origin::Sso => "sso",
        }
    }
}

/// Whether `username` follows the rules (1 to 64 letters, digits, `.`, `_`, `@`, `-`).
fn valid_username(username: &str) -> Result<(), AuthError> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(AuthError::InvalidUsername(format!(
            "`{username}` is not a valid user name: use 1 to 64 letters, digits, dots, dashes, underscores or @"
        )))
    }
}

/// Creates a learner with an account, optionally in a cohort.
pub async fn create_account(
    pool: &AnyPool,
    hasher: &Hasher,
    username: &str,
    role: Role,
    password: &str,
    cohort: Option<&str>,
    origin: Origin,
) -> Result<User, AuthError> {
    valid_username(username)?;
    password::check_strength(password).map_err(AuthError::WeakPassword)?;
    store::insert_account(
        pool,
        store::NewAccount {
            username,
            role,
            password_hash: &hasher.hash(password).await?,
            cohort: cohort.filter(|c| !c.is_empty()),
            origin,
            identity: None,
        },
    )
    .await
}

/// What importing accounts from CSV did: each created account with its generated password (to show
/// once), and why each bad line was skipped.
#[derive(Debug, Default)]
pub struct Imported {
    /// User name and generated password of each account created.
    pub created: Vec<(String, String)>,
    /// `line N: why`, for each line that created nothing.
    pub errors: Vec<String>,
    /// Those lines as they were given, to correct and import again.
    pub failed_lines: Vec<String>,
}

impl Imported {
    /// Notes that line `number`, `line`, created nothing, and why.
    fn refuse(&mut self, number: usize, line: &str, why: impl std::fmt::Display) {
        self.errors.push(format!("line {number}: {why}"));
        self.failed_lines.push(line.to_owned());
    }
}

/// Creates one account per CSV line `username,role,cohort` (role and cohort may be left out; a
/// first line starting with `username` is a header), each with a generated password. The accounts
/// are created in one transaction, after every password is hashed: all of the good lines, or, if
/// the database fails, none, so no account is left whose password nobody was shown.
pub async fn import_accounts(
    pool: &AnyPool,
    hasher: &Hasher,
    csv: &str,
) -> Result<Imported, sqlx::Error> {
    let mut imported = Imported::default();
    let mut wanted = Vec::new();
    for (number, line) in csv.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || (number == 1 && line.to_lowercase().starts_with("username")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (username, role, cohort) = match fields.as_slice() {
            [u] => (*u, "", ""),
            [u, r] => (*u, *r, ""),
            [u, r, c] => (*u, *r, *c),
            _ => {
                imported.refuse(number, line, "expected username,role,cohort");
                continue;
            }
        };
        let role = match Role::parse(if role.is_empty() { "learner" } else { role }) {
            Ok(role) => role,
            Err(e) => {
                imported.refuse(number, line, e);
                continue;
            }
        };
        if let Err(e) = valid_username(username) {
            imported.refuse(number, line, e);
            continue;
        }
        wanted.push((number, line, username, role, cohort, password::generate()));
    }
    let hashes = futures::future::join_all(
        wanted
            .iter()
            .map(|(_, _, _, _, _, password)| hasher.hash(password)),
    )
    .await;
    let mut accounts = Vec::new();
    let mut lines = Vec::new();
    for (wanted, hash) in wanted.iter().zip(&hashes) {
        let (number, line, username, role, cohort, _) = wanted;
        match hash {
            Ok(hash) => {
                accounts.push(store::NewAccount {
                    username,
                    role: *role,
                    password_hash: hash,
                    cohort: Some(*cohort).filter(|c| !c.is_empty()),
                    origin: Origin::Admin,
                    identity: None,
                });
                lines.push(wanted);
            }
            Err(e) => imported.refuse(*number, line, e),
        }
    }
    let results = store::insert_accounts(pool, &accounts).await?;
    for ((number, line, _, _, _, password), result) in lines.into_iter().zip(results) {
        match result {
            Ok(user) => imported.created.push((user.username, password.clone())),
            Err(e) => imported.refuse(*number, line, e),
        }
    }
    Ok(imported)
}

/// Checks credentials and starts a new session; returns the cookie token and the session.
/// `address` is the client's, as [`rate_limit`] counts failures by it.
pub async fn sign_in(
    pool: &AnyPool,
    passwords: &Passwords,
    username: &str,
    password: &str,
    address: IpAddr,
    break_glass_only: bool,
) -> Result<(String, Session), AuthError> {
    if let Some(wait) = rate_limit::retry_after(pool, username, address).await? {
        return Err(AuthError::Throttled(wait));
    }
    let account = store::find_account(pool, username).await?;
    let verified = passwords
        .hasher
        .verify(password, account.as_ref().map(|(_, hash)| hash.as_str()))
        .await?;
    let Some((user, _)) = account.filter(|_| verified) else {
        rate_limit::failed(pool, username, address).await?;
        return Err(AuthError::InvalidCredentials);
    };
    if !store::is_active(pool, user.learner_id).await? {
        return Err(AuthError::Deactivated);
    }
    if break_glass_only
        && store::origin(pool, user.learner_id).await?.as_deref() != Some(Origin::Cli.as_str())
    {
        return Err(AuthError::PasswordSignInOff);
    }
    rate_limit::succeeded(pool, username, address).await?;
    open_session(pool, user, Vec::new()).await
}

/// Starts a new session for someone whose identity was established, framable by
/// `frame_ancestors`; returns the cookie token.
async fn open_session(
    pool: &AnyPool,
    user: User,
    frame_ancestors: Vec<String>,
) -> Result<(String, Session), AuthError> {
    let token = random_hex::<32>();
    let csrf_token = random_hex::<32>();
    store::insert_session(
        pool,
        &token_hash(&token),
        user.learner_id,
        &csrf_token,
        &frame_ancestors,
        crate::clock::unix_seconds() as u64,
    )
    .await?;
    Ok((
        token,
        Session {
            user,
            csrf_token,
            frame_ancestors,
        },
    ))
}

/// How stale a session's recorded last use may get: idle expiry is exact to within this, and an
/// active session costs at most one small write this often.
const TOUCH_EVERY_SECS: u64 = 5;

/// The live session for a cookie token, refreshing its idle timer; expired sessions are deleted.
pub async fn session(
    pool: &AnyPool,
    token: &str,
    policy: SessionPolicy,
) -> Result<Option<Session>, sqlx::Error> {
    let hash = token_hash(token);
    let Some((session, created_at, last_seen_at)) = store::find_session(pool, &hash).await? else {
        return Ok(None);
    };
    let now = crate::clock::unix_seconds() as u64;
    let expired = now.saturating_sub(last_seen_at) > policy.idle.as_secs()
        || now.saturating_sub(created_at) > policy.absolute.as_secs();
    if expired {
        store::delete_session(pool, &hash).await?;
        return Ok(None);
    }
    if now >= last_seen_at + TOUCH_EVERY_SECS {
        store::touch_session(pool, &hash, now).await?;
    }
    Ok(Some(session))
}

/// Whose learners a staff member follows and grades: everyone's, or only those of the cohorts they
/// teach (an LTI Instructor role is its course's, never the portal's). Staff queries bind
/// [`StaffScope::bounded_by`] as `$n` in
/// `($n IS NULL OR cohort IN (SELECT cohort FROM staff_cohorts WHERE learner_id = $n))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffScope {
    /// Every learner: admins, and instructors an admin (or the organisation's directory) made.
    Portal,
    /// The learners of the cohorts listed for this account in `staff_cohorts`.
    CohortsOf(i64),
}

impl StaffScope {
    /// The account whose cohorts bound a staff query; `None`: nothing bounds it.
    pub fn bounded_by(self) -> Option<i64> {
        match self {
            StaffScope::Portal => None,
            StaffScope::CohortsOf(learner_id) => Some(learner_id),
        }
    }
}

/// The scope of `user`'s staff role. Admins are never scoped; a learner's scope is their own
/// (empty) list, so that nothing widens by mistake.
pub async fn staff_scope(pool: &AnyPool, user: &User) -> Result<StaffScope, sqlx::Error> {
    Ok(match user.role {
        Role::Admin => StaffScope::Portal,
        Role::Instructor
            if store::staff_scope(pool, user.learner_id).await?.as_deref() == Some("portal") =>
        {
            StaffScope::Portal
        }
        Role::Instructor | Role::Learner => StaffScope::CohortsOf(user.learner_id),
    })
}

/// How many sessions were used within `idle` (the active-sessions gauge).
pub async fn active_sessions(pool: &AnyPool, idle: Duration) -> Result<u64, sqlx::Error> {
    store::sessions_seen_since(
        pool,
        (crate::clock::unix_seconds() as u64).saturating_sub(idle.as_secs()),
    )
    .await
}

/// Ends a session for good.
pub async fn sign_out(pool: &AnyPool, token: &str) -> Result<(), sqlx::Error> {
    store::delete_session(pool, &token_hash(token)).await
}

/// Changes a password after checking the current one (throttled like sign-in: a stolen session must
/// not become a fast password oracle), and ends every other session of the user.
pub async fn change_password(
    pool: &AnyPool,
    passwords: &Passwords,
    user: &User,
    current: &str,
    new: &str,
    keep_token: &str,
    address: IpAddr,
) -> Result<(), AuthError> {
    if let Some(wait) = rate_limit::retry_after(pool, &user.username, address).await? {
        return Err(AuthError::Throttled(wait));
    }
    let stored = store::find_account(pool, &user.username)
        .await?
        .map(|(_, hash)| hash);
    if !passwords.hasher.verify(current, stored.as_deref()).await? {
        rate_limit::failed(pool, &user.username, address).await?;
        return Err(AuthError::InvalidCredentials);
    }
    password::check_strength(new).map_err(AuthError::WeakPassword)?;
    store::update_password(
        pool,
        user.learner_id,
        &passwords.hasher.hash(new).await?,
        Some(&token_hash(keep_token)),
    )
    .await?;
    Ok(())
}
