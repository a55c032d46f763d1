//! Everything a request may need, built once at start and shared.

use std::sync::Arc;

use sqlx::SqlitePool;

use crate::assets::Assets;
use crate::auth::Passwords;
use crate::config::ServeArgs;
use crate::content::{CourseFiles, Diagnostic, InvalidCourse};
use crate::db::{self, DbError};
use crate::labs::ClusterCache;
use crate::progress::VisitRecorder;
use crate::quota::Quotas;
use crate::render::{self, Highlighter};
use crate::site::{LiveSite, Site};

/// The application: configuration, database, the rendered course and the static files.
#[derive(Debug)]
pub struct App {
    /// How the server was started.
    pub config: ServeArgs,
    /// The SQLite pool, migrated.
    pub db: SqlitePool,
    /// The pages, swapped on reload.
    pub site: LiveSite,
    /// Grammars for code highlighting, kept for reloads.
    pub highlighter: Highlighter,
    /// CSS, JavaScript, mermaid.js.
    pub assets: Assets,
    /// Sign-in throttles and the Argon2 pool (portal mode).
    pub passwords: Passwords,
    /// Module visits, written at most once a minute per learner and module.
    pub visits: VisitRecorder,
    /// Connected clusters for "Check my work", reused across runs.
    pub clusters: ClusterCache,
    /// Per-learner limits on check runs and answer saves.
    pub quotas: Quotas,
    /// Held while serving, so that a second server on the same database refuses to start.
    _server_lock: db::ServerLock,
}

/// The handle handlers receive.
pub type AppState = Arc<App>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The course has authoring errors; each one is listed.
    #[error("the course in {source_name} has errors:\n{errors}")]
    InvalidContent {
        /// Where the course came from.
        source_name: String,
        /// Every error.
        errors: InvalidCourse,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Database(#[from] DbError),
}

impl App {
    /// Loads and renders the course, opens the database, and indexes the static files.
    pub async fn build(config: ServeArgs) -> Result<AppState, StartError> {
        let (files, source_name) = match &config.content {
            Some(dir) => {
                let name = dir.display().to_string();
                let files = CourseFiles::from_dir(dir).map_err(|d| invalid(&name, vec![d]))?;
                (files, name)
            }
            None => (CourseFiles::embedded(), "the embedded course".to_owned()),
        };
        let highlighter = tokio::task::spawn_blocking(Highlighter::default);
        let holder = format!(
            "process {}, started to listen on {}",
            std::process::id(),
            config.addr
        );
        let db = db::open(&config.db.path()).await?;
        let server_lock = db::lock_for_serving(&config.db.path(), &holder)?;
        let highlighter = highlighter.await.unwrap_or_default();
        let course = render::build(files, &highlighter).map_err(|e| invalid(&source_name, e.0))?;
        crate::assess::rubrics::sync(&db, &course.course)
            .await
            .map_err(|source| DbError::Open {
                path: config.db.path().display().to_string(),
                source,
            })?;
        let assets = Assets::load();
        let site = LiveSite::new(Site::new(Arc::new(course), assets.urls.clone(), &[]));
        Ok(Arc::new(App {
            config,
            db,
            site,
            highlighter,
            assets,
            passwords: Passwords::default(),
            visits: VisitRecorder::default(),
            clusters: ClusterCache::default(),
            quotas: Quotas::default(),
            _server_lock: server_lock,
        }))
    }
}

fn invalid(source_name: &str, errors: Vec<Diagnostic>) -> StartError {
    StartError::InvalidContent {
        source_name: source_name.to_owned(),
        errors: InvalidCourse(errors),
    }
}
