//! The SQLite database: opened once, migrated at start with the migrations embedded in the binary.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Until accounts exist (portal mode), all progress belongs to this learner, created by the first migration.
pub const LOCAL_LEARNER_ID: i64 = 1;

/// The schema history, from `migrations/`, compiled in.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The folder for the database file could not be created.
    #[error("cannot create the folder for the database {path}: {source}")]
    CreateDir {
        /// The database path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite refused to open the file.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database path.
        path: String,
        /// SQLite's error.
        source: sqlx::Error,
    },
    /// A migration failed; the database is left as it was before that migration.
    #[error("cannot upgrade the database {path}: {source}")]
    Migrate {
        /// The database path.
        path: String,
        /// The migration error.
        source: sqlx::migrate::MigrateError,
    },
}

/// Opens (creating if needed) the database at `path` in WAL mode with foreign keys and a busy
/// timeout, and brings its schema up to date.
///
/// `synchronous=NORMAL` is SQLite's recommended setting for WAL: a committed transaction survives the
/// process being killed (tested with kill -9); only an OS crash or power loss can lose the last few.
pub async fn open(path: &Path) -> Result<SqlitePool, DbError> {
    let display = path.display().to_string();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| DbError::CreateDir {
            path: display.clone(),
            source,
        })?;
    }
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(|source| DbError::Open {
            path: display.clone(),
            source,
        })?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| DbError::Open {
            path: display.clone(),
            source,
        })?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|source| DbError::Migrate {
            path: display,
            source,
        })?;
    Ok(pool)
}

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// There is no database at the source path.
    #[error("there is no database at {0}")]
    NoDatabase(String),
    /// The target exists; backups never overwrite.
    #[error("{0} already exists; choose a new file name (backups never overwrite)")]
    TargetExists(String),
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
pub async fn backup(source: &Path, target: &Path) -> Result<(), BackupError> {
    let (source_path, target_path) = (source.display().to_string(), target.display().to_string());
    if !source.exists() {
        return Err(BackupError::NoDatabase(source_path));
    }
    if target.exists() {
        return Err(BackupError::TargetExists(target_path));
    }
    let sqlite = |error| BackupError::Sqlite {
        source_path: source_path.clone(),
        target: target_path.clone(),
        error,
    };
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(sqlite)?
        .filename(source)
        .read_only(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(sqlite)?;
    let result = sqlx::query("VACUUM INTO ?")
        .bind(&target_path)
        .execute(&pool)
        .await
        .map_err(sqlite);
    pool.close().await;
    result.map(|_| ())
}

/// Whether the database answers and holds Lectern's schema (for `/readyz`).
pub async fn is_ready(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM learners LIMIT 1")
        .execute(pool)
        .await
        .map(|_| ())
}
