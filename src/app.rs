//! Everything a request may need, built once at start and shared.

use std::path::Path;
use std::sync::Arc;

use sqlx::AnyPool;

use crate::assets::Assets;
use crate::auth::Passwords;
use crate::config::ServeArgs;
use crate::content::{CourseFiles, Diagnostic, InvalidCourse};
use crate::db::{self, DbError};
use crate::labs::ClusterCache;
use crate::progress::ProgressMemory;
use crate::quota::Quotas;
use crate::render::{self, Highlighter, RenderedCourse};
use crate::site::{LiveSite, Site};

/// The application: configuration, database, the rendered course and the static files.
#[derive(Debug)]
pub struct App {
    /// How the server was started.
    pub config: ServeArgs,
    /// The SQLite pool, migrated.
    pub db: AnyPool,
    /// The pages, swapped on reload.
    pub site: Arc<LiveSite>,
    /// Grammars for code highlighting, kept for reloads.
    pub highlighter: Highlighter,
    /// CSS, JavaScript, mermaid.js.
    pub assets: Assets,
    /// The Argon2 pool (portal mode).
    pub passwords: Passwords,
    /// Learners' progress as pages show it, kept between views, and their module visits.
    pub progress: Arc<ProgressMemory>,
    /// How learners' clusters are reached: connections reused across runs, learners' live
    /// `lectern connect` bridges, the server's own kubeconfig.
    pub reach: crate::labs::Reach,
    /// The live checks: learners' started steps, watched and checked as their clusters change.
    pub live: crate::live::Live,
    /// Recorded runs as they come (on any replica), for the instructors' live board.
    pub runs: crate::progress::RunFeed,
    /// Per-learner limits on check runs and answer saves.
    pub quotas: Quotas,
    /// Single sign-on, when an OpenID Connect provider is configured.
    pub sso: Option<crate::sso::Sso>,
    /// What `/metrics` reports.
    pub metrics: crate::metrics::Metrics,
    /// Set on SIGTERM: `/readyz` answers 503 and responses close their connections, while the
    /// server drains (`--drain-seconds`) before it stops accepting.
    pub draining: std::sync::atomic::AtomicBool,
    /// Writes the storage refused lately, for `/readyz`.
    pub write_health: db::WriteHealth,
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
    /// Single sign-on is configured wrongly.
    #[error("single sign-on: {0}")]
    SingleSignOn(String),
}

impl App {
    /// Loads and renders the course, opens the database, and indexes the static files.
    pub async fn build(config: ServeArgs) -> Result<AppState, StartError> {
        let sso_settings = sso_settings(&config)?;
        // The grammars load and the course renders while the database opens and migrates.
        let content = config.content.clone();
        let rendering = tokio::task::spawn_blocking(move || {
            let highlighter = Highlighter::default();
            let course = load_course(content.as_deref(), &highlighter);
            (highlighter, course)
        });
        let holder = format!(
            "process {}, started to listen on {}",
            std::process::id(),
            config.addr
        );
        // Locked before it is opened: a second server must not touch the file at all.
        let server_lock = db::lock_for_serving(&config.db.location(), &holder)?;
        let db = db::open(&config.db.location()).await?;
        // A panic while rendering stays the panic it was, as when it rendered on this task.
        let (highlighter, course) = rendering
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        let course = course.map_err(|errors| StartError::InvalidContent {
            source_name: source_name(config.content.as_deref()),
            errors: InvalidCourse(errors),
        })?;
        crate::assess::rubrics::sync(&db, &course.course)
            .await
            .map_err(|source| DbError::Open {
                database: config.db.location().to_string(),
                source,
            })?;
        let peers = match &config.replica_url {
            Some(own_url) => Some(
                crate::bridge::Peers::join(
                    db.clone(),
                    own_url,
                    std::time::Duration::from_secs(config.cluster.cluster_timeout),
                )
                .await
                .map_err(|source| DbError::Open {
                    database: config.db.location().to_string(),
                    source,
                })?,
            ),
            None => None,
        };
        let assets = Assets::load();
        let site = Arc::new(LiveSite::new(Site::new(
            Arc::new(course),
            assets.urls.clone(),
            &[],
            config.watch,
        )));
        let reach = crate::labs::Reach {
            clusters: Arc::new(ClusterCache::default()),
            bridges: Arc::new(crate::bridge::Bridges::new(peers)),
            server_default: config.cluster.connect_options(),
            portal: config.portal,
        };
        let progress = Arc::new(ProgressMemory::default());
        let live = crate::live::Live::new(
            reach.clone(),
            db.clone(),
            site.clone(),
            progress.clone(),
            crate::live::IDLE_BOUND,
        );
        let runs = crate::progress::RunFeed::start(db.clone());
        Ok(Arc::new(App {
            config,
            db,
            site,
            highlighter,
            assets,
            passwords: Passwords::default(),
            progress,
            reach,
            live,
            runs,
            quotas: Quotas::default(),
            sso: match sso_settings {
                Some(settings) => Some(crate::sso::Sso::start(settings).await),
                None => None,
            },
            metrics: crate::metrics::Metrics::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
            write_health: db::WriteHealth::default(),
            _server_lock: server_lock,
        }))
    }

    /// Loads the course again (after an edit, under `--watch`) the way [`build`](Self::build)
    /// does: the new pages show once its rubrics are recorded (grades under a corrected rubric are
    /// recomputed first); a course with errors keeps the last good version on show, with the errors
    /// in a banner on every page and in the log.
    pub async fn reload(&self) {
        let content = self.config.content.as_deref();
        match load_course(content, &self.highlighter) {
            Ok(course) => {
                if let Err(e) = crate::assess::rubrics::sync(&self.db, &course.course).await {
                    tracing::warn!(error = %e, "could not record the reloaded rubrics; grading keeps the previous ones");
                }
                tracing::info!(source = %source_name(content), "content reloaded");
                self.site.replace(Site::new(
                    Arc::new(course),
                    self.assets.urls.clone(),
                    &[],
                    self.config.watch,
                ));
            }
            Err(errors) => {
                for e in &errors {
                    tracing::warn!("{e}");
                }
                tracing::warn!(
                    errors = errors.len(),
                    "content has errors; still serving the last good version"
                );
                let current = self.site.current();
                self.site.replace(current.with_errors(&errors));
            }
        }
    }
}

/// Single sign-on's settings from the flags, with the client secret read from its file or from
/// `LECTERN_OIDC_CLIENT_SECRET`; `None` when no issuer is configured.
fn sso_settings(config: &ServeArgs) -> Result<Option<crate::sso::Settings>, StartError> {
    let args = &config.sso;
    let Some(issuer) = args.issuer.clone() else {
        return Ok(None);
    };
    let wrong = |message: String| StartError::SingleSignOn(message);
    let client_id = args
        .client_id
        .clone()
        .ok_or_else(|| wrong("--oidc-client-id is required with --oidc-issuer".to_owned()))?;
    let public = config
        .public_url
        .as_deref()
        .ok_or_else(|| wrong("--public-url is required with --oidc-issuer".to_owned()))?
        .trim_end_matches('/');
    let client_secret = match &args.client_secret_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    wrong(format!(
                        "cannot read the client secret file {}: {e}",
                        path.display()
                    ))
                })?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("LECTERN_OIDC_CLIENT_SECRET").ok(),
    };
    let scopes = args
        .scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty() && *s != "openid")
        .map(str::to_owned)
        .collect();
    Ok(Some(crate::sso::Settings {
        issuer,
        client_id,
        client_secret,
        redirect_url: format!("{public}/sign-in/oidc/callback"),
        after_logout_url: format!("{public}/sign-in"),
        scopes,
        provider_name: args.provider_name.clone(),
        groups_claim: args.groups_claim.clone(),
        admin_groups: args.admin_groups.clone(),
        instructor_groups: args.instructor_groups.clone(),
        cohort_claim: args.cohort_claim.clone(),
        cohort_group_prefix: args.cohort_group_prefix.clone(),
        allowed_domains: args.allowed_domains.clone(),
        create_accounts: args.create_accounts,
    }))
}

/// The course in `content`, or the embedded one, rendered; every authoring error otherwise.
fn load_course(
    content: Option<&Path>,
    highlighter: &Highlighter,
) -> Result<RenderedCourse, Vec<Diagnostic>> {
    let files = match content {
        Some(dir) => CourseFiles::from_dir(dir).map_err(|d| vec![d])?,
        None => CourseFiles::embedded(),
    };
    render::build(files, highlighter).map_err(|e| e.0)
}

fn source_name(content: Option<&Path>) -> String {
    content.map_or_else(
        || "the embedded course".to_owned(),
        |dir| dir.display().to_string(),
    )
}
