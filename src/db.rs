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
    /// Another `lectern serve` holds the database: two would keep separate caches and
    /// `lectern connect` bridges over the same data.
    #[error(
        "the database {path} is in use by another Lectern server ({holder}); stop it, or give this one another --db"
    )]
    InUse {
        /// The database path.
        path: String,
        /// Who holds it, as that server wrote in the lock file.
        holder: String,
    },
    /// The lock file beside the database could not be opened or locked.
    #[error("cannot lock the database {path}: {source}")]
    Lock {
        /// The database path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
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
///
/// It holds password hashes, session hashes and kubeconfigs, so a folder or file it creates is
/// readable by Lectern's user only (0700 and 0600; SQLite gives its `-wal` and `-shm` files the
/// database file's mode).
pub async fn open(path: &Path) -> Result<SqlitePool, DbError> {
    let display = path.display().to_string();
    create_private(path).map_err(|source| DbError::CreateDir {
        path: display.clone(),
        source,
    })?;
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

/// Proof that this process is the one server of a database, held for as long as it serves: a lock
/// on `<database>.lock`, which also names the holder for the message a second server gives.
#[derive(Debug)]
pub struct ServerLock {
    _file: std::fs::File,
}

/// Takes the database's server lock, or says which server holds it. `holder` describes this server.
pub fn lock_for_serving(db_path: &Path, holder: &str) -> Result<ServerLock, DbError> {
    use std::io::{Read, Seek, Write};
    let path = db_path.display().to_string();
    let lock_error = |source| DbError::Lock {
        path: path.clone(),
        source,
    };
    let lock_path = db_path.with_file_name(format!(
        "{}.lock",
        db_path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&lock_path).map_err(lock_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(DbError::InUse {
                path,
                holder: Some(holder.trim().to_owned())
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "it did not say who it is".to_owned()),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(e)),
    }
    file.set_len(0).map_err(lock_error)?;
    file.rewind().map_err(lock_error)?;
    file.write_all(holder.as_bytes()).map_err(lock_error)?;
    Ok(ServerLock { _file: file })
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
pub async fn backup(source: &Path, target: &Path) -> Result<(), BackupError> {
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
    let result = sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&pool)
        .await;
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
