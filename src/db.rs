//! The database: a SQLite file (the default: one binary, nothing to install) or a PostgreSQL
//! server (several replicas), opened once through sqlx's `Any` driver and migrated at start with
//! the migrations embedded in the binary.
//!
//! The stores write one SQL text for both backends: `$1` placeholders, which SQLite reads too; the
//! same column types (`BIGINT` is SQLite's `INTEGER`, timestamps are UTC text or unix seconds);
//! the current time bound from Rust ([`timestamp_now`]); and booleans computed by SQL read as
//! [`Flag`]. What differs is the schema, kept in `migrations/sqlite` and `migrations/postgres`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyTypeInfo, AnyTypeInfoKind};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Any, AnyPool, Decode, Type};

/// Until accounts exist (portal mode), all progress belongs to this learner, created by the first migration.
pub const LOCAL_LEARNER_ID: i64 = 1;

/// SQLite's schema history, from `migrations/sqlite`, compiled in.
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// PostgreSQL's schema history, from `migrations/postgres`, compiled in.
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long opening the database may take before start-up gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many connections one server keeps at most.
const POOL_SIZE: u32 = 16;

/// Where the data lives: `--db` / `LECTERN_DB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file, created on first start.
    Sqlite(PathBuf),
    /// A PostgreSQL database, as a `postgres://` URL; several servers may share it.
    Postgres(String),
}

impl FromStr for Location {
    type Err = String;

    /// A `postgres://` or `postgresql://` URL names PostgreSQL; anything else is a SQLite file's
    /// path. A malformed URL is refused by [`open`], whose error hides the password (clap would
    /// repeat the value as given).
    fn from_str(text: &str) -> Result<Self, String> {
        // Schemes are case-insensitive (RFC 3986): `POSTGRES://` is PostgreSQL too.
        let scheme = text.split_once("://").map(|(scheme, _)| scheme);
        if let Some(scheme) = scheme
            .filter(|s| s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql"))
        {
            let rest = &text[scheme.len()..];
            Ok(Location::Postgres(format!(
                "{}{rest}",
                scheme.to_ascii_lowercase()
            )))
        } else if text.is_empty() {
            Err("the database is empty: give a file path or a postgres:// URL".to_owned())
        } else {
            Ok(Location::Sqlite(PathBuf::from(text)))
        }
    }
}

impl fmt::Display for Location {
    /// The path, or the URL without its password: this goes to logs and error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// `url` with any password replaced by `***` (in the user part, or a `password` parameter).
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "password" { "***".into() } else { v };
                    (k.into_owned(), v.into_owned())
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL (a bad port, or a `/` or `#` left unencoded in the password): cut the
        // password out by hand, with all after `password=`. Everything up to the last `@` may be
        // the user part, since a password may hold any character.
        Err(_) => {
            let url = url.split("password=").next().unwrap_or_default();
            let Some((scheme, rest)) = url.split_once("://") else {
                return url.to_owned();
            };
            match rest.rsplit_once('@') {
                Some((user_info, host)) if user_info.contains(':') => {
                    let user = user_info.split(':').next().unwrap_or_default();
                    format!("{scheme}://{user}:***@{host}")
                }
                _ => url.to_owned(),
            }
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The folder for the database file could not be created.
    #[error("cannot create the folder for the database {database}: {source}")]
    CreateDir {
        /// The database, as [`Location`] shows it.
        database: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database refused to open, or its server did not answer.
    #[error("cannot open the database {database}: {source}")]
    Open {
        /// The database, as [`Location`] shows it.
        database: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Another `lectern serve` holds the SQLite file: two would keep separate caches and
    /// `lectern connect` bridges over the same data.
    #[error(
        "the database {database} is in use by another Lectern server ({holder}); stop it, or give this one another --db (several servers share a PostgreSQL database, not a SQLite file)"
    )]
    InUse {
        /// The database path.
        database: String,
        /// Who holds it, as that server wrote in the lock file.
        holder: String,
    },
    /// The lock file beside the database could not be opened or locked.
    #[error("cannot lock the database {database}: {source}")]
    Lock {
        /// The database path.
        database: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A migration failed; the database is left as it was before that migration.
    #[error("cannot upgrade the database {database}: {source}")]
    Migrate {
        /// The database, as [`Location`] shows it.
        database: String,
        /// The migration error.
        source: sqlx::migrate::MigrateError,
    },
}

/// Opens the database at `location` and brings its schema up to date.
///
/// SQLite: created if needed, in WAL mode with foreign keys and a busy timeout.
/// `synchronous=NORMAL` is SQLite's recommended setting for WAL: a committed transaction survives
/// the process being killed (tested with kill -9); only an OS crash or power loss can lose the last
/// few. It holds password hashes, session hashes and kubeconfigs, so a folder or file it creates is
/// readable by Lectern's user only (0700 and 0600; SQLite gives its `-wal` and `-shm` files the
/// database file's mode).
///
/// PostgreSQL: the database must exist. Servers starting together migrate once: sqlx holds an
/// advisory lock while it migrates, and the others wait for it.
pub async fn open(location: &Location) -> Result<AnyPool, DbError> {
    sqlx::any::install_default_drivers();
    let database = location.to_string();
    let open_error = |source| DbError::Open {
        database: database.clone(),
        source,
    };
    let (url, migrator) = match location {
        Location::Sqlite(path) => {
            create_private(path).map_err(|source| DbError::CreateDir {
                database: database.clone(),
                source,
            })?;
            let path = std::path::absolute(path).map_err(|source| DbError::CreateDir {
                database: database.clone(),
                source,
            })?;
            (sqlite_url(&path), &SQLITE_MIGRATOR)
        }
        Location::Postgres(url) => (url.clone(), &POSTGRES_MIGRATOR),
    };
    let options = AnyConnectOptions::from_str(&url).map_err(open_error)?;
    if let Location::Postgres(_) = location {
        // One connection on its own first, so that a refused, unreachable or silent server is
        // reported with its own error, not as the pool's "timed out" five seconds later.
        use sqlx::Connection;
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect_with(&options))
            .await
        {
            Ok(connection) => {
                let _ = connection.map_err(open_error)?.close().await;
            }
            Err(_) => {
                return Err(open_error(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "the server accepted no session within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    ),
                ))));
            }
        }
    }
    let pool = AnyPoolOptions::new()
        .max_connections(POOL_SIZE)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|connection, _| {
            Box::pin(async move {
                use sqlx::Executor;
                let settings = match connection.backend_name() {
                    "SQLite" => "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                    // Notices ("relation ... already exists, skipping") are not news to the log.
                    _ => "SET client_min_messages TO warning",
                };
                connection.execute(settings).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(open_error)?;
    migrator
        .run(&pool)
        .await
        .map_err(|source| DbError::Migrate { database, source })?;
    Ok(pool)
}

/// The `sqlite://` URL of an absolute path: percent-encoded, so that `?`, `#` or `%` in a folder
/// name stay part of the name; `mode=rwc` creates the file.
fn sqlite_url(path: &Path) -> String {
    use std::fmt::Write;
    let mut url = String::from("sqlite://");
    for byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(byte) {
            url.push(char::from(*byte));
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
    url.push_str("?mode=rwc");
    url
}

/// A truth value computed by SQL (`EXISTS (...) AS released`): PostgreSQL answers a boolean,
/// SQLite an integer; this reads either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl From<Flag> for bool {
    fn from(flag: Flag) -> bool {
        flag.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        matches!(
            ty.kind(),
            AnyTypeInfoKind::Bool
                | AnyTypeInfoKind::SmallInt
                | AnyTypeInfoKind::Integer
                | AnyTypeInfoKind::BigInt
        )
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(
        value: <Any as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        match <bool as Decode<Any>>::decode(value.clone()) {
            Ok(truth) => Ok(Flag(truth)),
            Err(_) => Ok(Flag(<i64 as Decode<Any>>::decode(value)? != 0)),
        }
    }
}

/// Creates the database's missing folders (0700) and the empty database file (0600), so that SQLite
/// never creates them with the process's default, usually world-readable, mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut folders = std::fs::DirBuilder::new();
        folders.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut folders, 0o700);
        folders.create(parent)?;
    }
    match private_file(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates a new, empty file readable and writable by this user only; fails if it exists.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Proof that this process is the one server of a SQLite database, held for as long as it
/// serves: a lock on the database file itself, so the same file reached by another name (a
/// symbolic or hard link) is refused too. `<database>.lock` beside it names the holder, for the
/// message a second server gives. PostgreSQL needs none: several servers share it by design.
#[derive(Debug)]
pub struct ServerLock {
    _file: Option<std::fs::File>,
}

/// Takes the database's server lock, or says which server holds it. `holder` describes this server.
pub fn lock_for_serving(location: &Location, holder: &str) -> Result<ServerLock, DbError> {
    match location {
        Location::Sqlite(path) => {
            lock_file(path, holder).map(|file| ServerLock { _file: Some(file) })
        }
        Location::Postgres(_) => Ok(ServerLock { _file: None }),
    }
}

/// Locks the database file with `flock`, which SQLite's own locks (`fcntl` byte ranges) never
/// meet, so the lock neither blocks nor is released by SQLite; it follows the file, not its name.
fn lock_file(db_path: &Path, holder: &str) -> Result<std::fs::File, DbError> {
    let database = db_path.display().to_string();
    let lock_error = |source| DbError::Lock {
        database: database.clone(),
        source,
    };
    let holder_path = db_path.with_file_name(format!(
        "{}.lock",
        db_path.file_name().unwrap_or_default().to_string_lossy()
    ));
    create_private(db_path).map_err(|source| DbError::CreateDir {
        database: database.clone(),
        source,
    })?;
    let file = std::fs::File::open(db_path).map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&holder_path).unwrap_or_default();
            return Err(DbError::InUse {
                database,
                holder: Some(holder.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| {
                        "it did not say who it is here: it may use the file under another name, through a link".to_owned()
                    }),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut note = options.open(&holder_path).map_err(lock_error)?;
    std::io::Write::write_all(&mut note, holder.as_bytes()).map_err(lock_error)?;
    Ok(file)
}

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database at the source path.
    #[error("there is no database at {0}")]
    NoDatabase(String),
    /// The database is PostgreSQL, which its own tools back up.
    #[error(
        "{0} is a PostgreSQL database: back it up with pg_dump, or with your operator's backups (CloudNativePG, Patroni, a managed service)"
    )]
    NotSqlite(String),
    /// The target exists; backups never overwrite.
    #[error("{0} already exists; choose a new file name (backups never overwrite)")]
    TargetExists(String),
    /// The copy's file could not be created.
    #[error("cannot create {target}: {error}")]
    Create {
        /// The copy.
        target: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// SQLite could not read the source or write the copy.
    #[error("cannot back up {source_path} to {target}: {error}")]
    Sqlite {
        /// The database.
        source_path: String,
        /// The copy.
        target: String,
        /// SQLite's error.
        error: sqlx::Error,
    },
}

/// Copies the live database at `source` to `target` with `VACUUM INTO`: a consistent snapshot taken in
/// one read transaction, so the server can keep writing meanwhile. Does not migrate or create `source`.
pub async fn backup(source: &Location, target: &Path) -> Result<(), BackupError> {
    let source = match source {
        Location::Sqlite(path) => path.as_path(),
        Location::Postgres(_) => return Err(BackupError::NotSqlite(source.to_string())),
    };
    let (source_path, target_path) = (source.display().to_string(), target.display().to_string());
    if !source.exists() {
        return Err(BackupError::NoDatabase(source_path));
    }
    // Created here, empty and private, so the copy of password hashes and kubeconfigs is never
    // world-readable; `create_new` also makes "never overwrite" hold against a race.
    match private_file(target) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::TargetExists(target_path));
        }
        Err(error) => {
            return Err(BackupError::Create {
                target: target_path,
                error,
            });
        }
    }
    let sqlite = |error| BackupError::Sqlite {
        source_path: source_path.clone(),
        target: target_path.clone(),
        error,
    };
    let result = vacuum_into(source, &target_path).await.map_err(sqlite);
    if result.is_err() {
        let _ = std::fs::remove_file(target);
    }
    result
}

async fn vacuum_into(source: &Path, target: &str) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(source)
        .read_only(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let result = sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&pool)
        .await;
    pool.close().await;
    result.map(|_| ())
}

/// How long `/readyz` reports a write that failed for lack of storage: long enough for a load
/// balancer to notice, short enough that a server whose disk was freed comes back by itself.
const WRITE_FAILURE_REPORTED_FOR: Duration = Duration::from_secs(30);

/// What a database error says of the storage under it, when the storage itself refuses writes:
/// a full disk, a failing one, or a file that turned read-only. Other errors (a constraint, a busy
/// database, a lost connection) are `None`.
pub fn storage_failure(error: &sqlx::Error) -> Option<&'static str> {
    // PostgreSQL's SQLSTATE: class 53 is "insufficient resources" (53100 disk_full), 58030 io_error.
    match postgres_code(error).as_deref() {
        Some("53100") => return Some("the database server's disk is full"),
        Some("58030") => return Some("the database server cannot write to its disk"),
        _ => {}
    }
    match sqlite_code(error)? {
        13 => Some("the disk holding the database is full"),
        10 => Some("the disk holding the database failed to write"),
        8 => Some("the database file has become read-only"),
        _ => None,
    }
}

/// Whether SQLite said the database is locked (`SQLITE_BUSY` and its extended codes, such as 517,
/// `SQLITE_BUSY_SNAPSHOT`): worth trying the transaction again.
pub fn is_busy(error: &sqlx::Error) -> bool {
    sqlite_code(error) == Some(5)
}

/// SQLite's primary result code (the low byte of its extended code) of a SQLite error; `None` for
/// any other error, so that PostgreSQL's numeric SQLSTATEs are never read as SQLite codes.
fn sqlite_code(error: &sqlx::Error) -> Option<i32> {
    let sqlx::Error::Database(error) = error else {
        return None;
    };
    error.try_downcast_ref::<sqlx::sqlite::SqliteError>()?;
    Some(error.code()?.parse::<i32>().ok()? & 0xff)
}

/// PostgreSQL's SQLSTATE of a PostgreSQL error.
fn postgres_code(error: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(error) = error else {
        return None;
    };
    error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()?;
    error.code().map(|code| code.into_owned())
}

/// The last write the storage refused ([`storage_failure`]), so that `/readyz` says the database
/// cannot write rather than "ready" while every save fails.
#[derive(Debug, Default)]
pub struct WriteHealth {
    last_failure: std::sync::Mutex<Option<(std::time::Instant, &'static str)>>,
}

impl WriteHealth {
    /// Notes a refused write.
    pub fn record(&self, cause: &'static str) {
        let mut last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some((std::time::Instant::now(), cause));
    }

    /// Why writes fail, if one failed for lack of storage within the last 30 seconds.
    pub fn recent_failure(&self) -> Option<&'static str> {
        let last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        last.filter(|(at, _)| at.elapsed() < WRITE_FAILURE_REPORTED_FOR)
            .map(|(_, cause)| cause)
    }
}

/// Whether the database answers and holds Lectern's schema (for `/readyz`).
pub async fn is_ready(pool: &AnyPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM learners LIMIT 1")
        .execute(pool)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_log() {
        for (given, shown) in [
            (
                "postgres://lectern:s3cret@db:5432/lectern",
                "postgres://lectern:***@db:5432/lectern",
            ),
            (
                "postgres://db/lectern?user=lectern&password=s3cret&sslmode=verify-full",
                "postgres://db/lectern?user=lectern&password=***&sslmode=verify-full",
            ),
            (
                "postgresql://lectern:s3cret@db:99999/lectern",
                "postgresql://lectern:***@db:99999/lectern",
            ),
            (
                "postgres://db:99999/x?password=s3cret",
                "postgres://db:99999/x?",
            ),
            (
                "postgres://lectern@db/lectern",
                "postgres://lectern@db/lectern",
            ),
        ] {
            let location: Location = given.parse().unwrap();
            assert_eq!(location.to_string(), shown);
        }
        for (given, shown) in [
            (
                "POSTGRES://lectern:s3cret@db/lectern",
                "postgres://lectern:***@db/lectern",
            ),
            (
                "PostgreSQL://lectern:s3/cr#et@db/lectern",
                "postgresql://lectern:***@db/lectern",
            ),
        ] {
            let location: Location = given.parse().unwrap();
            assert!(matches!(location, Location::Postgres(_)), "{given}");
            assert_eq!(location.to_string(), shown);
        }
        assert_eq!(
            "data/lectern.db".parse::<Location>(),
            Ok(Location::Sqlite(PathBuf::from("data/lectern.db")))
        );
    }
}
