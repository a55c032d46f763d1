//! `lectern serve`: build the app, listen, and serve until SIGTERM or Ctrl-C.

use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::ServeArgs;
use crate::site;

/// Runs the server until it is asked to stop.
pub async fn execute(args: ServeArgs) -> anyhow::Result<()> {
    let addr = args.addr;
    let watch_dir = args.watch.then(|| args.content.clone()).flatten();
    let db_path = args.db.path();
    let app = App::build(args).await?;
    if let Some(dir) = watch_dir {
        site::watch(app.clone(), dir.clone())
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        tracing::info!(dir = %dir.display(), "watching for changes");
    }
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(db = %db_path.display(), "serving “{}” on http://{local}", app.site.current().course.title);
    crate::serve(listener, app, shutdown_signal())
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
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
