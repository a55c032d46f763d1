//! `lectern serve`: build the app, listen, and serve until SIGTERM or Ctrl-C.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::{App, AppState};
use crate::config::ServeArgs;

/// Builds the app as `lectern serve` runs it: course loaded, database migrated and locked, the
/// course folder watched with `--watch`, the cluster identity checked in the background, and the
/// metrics served on `--metrics-address` if given. The tests start their servers through this too.
pub async fn start(args: ServeArgs) -> anyhow::Result<AppState> {
    let watch_dir = args.watch.then(|| args.content.clone()).flatten();
    let app = App::build(args).await?;
    if let Some(dir) = watch_dir {
        super::watch::watch(app.clone(), dir.clone())
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "watching for changes");
    }
    tokio::spawn(warn_if_cluster_identity_can_write(
        app.config.cluster.connect_options(),
    ));
    if app.config.portal {
        tokio::spawn(pass_grades_back(std::sync::Arc::downgrade(&app)));
    }
    if let Some(metrics_addr) = app.config.metrics_address {
        let metrics = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("cannot listen on {metrics_addr} for metrics"))?;
        let router = crate::http::metrics::router(&app);
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!("the metrics endpoint stopped: {e}");
            }
        });
        tracing::info!("metrics on http://{metrics_addr}/metrics");
    }
    Ok(app)
}

/// How often queued LTI scores are looked at.
const PASSBACK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Posts queued LTI scores to learning platforms for as long as the app lives.
async fn pass_grades_back(app: std::sync::Weak<App>) {
    let passback = match crate::lti::passback::Passback::new() {
        Ok(passback) => passback,
        Err(e) => {
            tracing::error!(
                "LTI grade passback cannot start its HTTP client, so no score is sent: {e}"
            );
            return;
        }
    };
    let mut every = tokio::time::interval(PASSBACK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        // Only the pool and the course are kept while scores are posted (a platform may take
        // seconds to answer): the app itself, and with it the database's server lock, is let go
        // as soon as the server stops.
        let Some((db, site)) = app
            .upgrade()
            .map(|app| (app.db.clone(), app.site.current()))
        else {
            return;
        };
        if let Err(e) = passback.send_due(&db, site.course()).await {
            tracing::warn!("LTI grade passback: {e}");
        }
    }
}

/// Runs the server until it is asked to stop.
pub async fn execute(args: ServeArgs) -> anyhow::Result<()> {
    let addr = args.addr;
    let database = args.db.location();
    let app = start(args).await?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(db = %database, "serving “{}” on http://{local}", app.site.current().rendered.title);
    crate::serve(listener, app, shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Logs, at start, whether the cluster "Check my work" uses is reachable and whether Lectern's
/// identity there could write (it should only read).
async fn warn_if_cluster_identity_can_write(options: crate::labs::ConnectOptions) {
    let cluster = match crate::labs::Cluster::connect(&options).await {
        Ok(cluster) => cluster,
        Err(e) => return tracing::info!("lab checks: {e}"),
    };
    match cluster.write_grants().await {
        Ok(grants) if grants.is_empty() => {
            tracing::info!(cluster = %cluster.url, "lab checks: cluster identity is read-only")
        }
        Ok(grants) => grants
            .iter()
            .for_each(|g| tracing::warn!(cluster = %cluster.url, "{g}")),
        Err(e) => tracing::info!("lab checks: {e}"),
    }
}

/// Completes on Ctrl-C or SIGTERM, so in-flight requests can finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
