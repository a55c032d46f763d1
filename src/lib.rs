//! Lectern: a self-hosted courseware server for hands-on Kubernetes training.
//!
//! The crate map, in the direction the arrows go:
//!
//! - [`cli`] and [`http`] are the edges: they parse input and call one domain function.
//! - The domains: [`labs`] (checks), [`bridge`] (`lectern connect`), [`progress`], [`assess`]
//!   (answers and grading), [`auth`], [`sso`] (single sign-on), [`lti`] (LMS launches and grade
//!   passback); [`reports`] read several of them (the gradebook); [`quota`] limits what one
//!   learner may cost.
//! - [`site`] holds the rendered pages; [`render`] turns a course into HTML once, at load;
//!   [`content`] loads and validates the course files.
//! - Leaves any layer may use: [`clock`] and [`secrets`].
//! - [`app`] builds the shared [`App`] once; [`config`] and [`db`] are the process's settings and
//!   storage (the stores of the domains use [`db`]'s helpers; it uses no domain); [`assets`] are
//!   Lectern's own embedded CSS and JavaScript; [`metrics`] its Prometheus registry; [`server`]
//!   accepts connections within their limits.
//!
//! Tests start the real server through [`cli::serve::start`] and [`serve`], exactly as `main` does.

pub mod app;
pub mod assess;
pub mod assets;
pub mod auth;
pub mod bridge;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod db;
pub mod http;
pub mod labs;
pub mod labtest;
pub mod live;
pub mod lti;
pub mod metrics;
pub mod progress;
pub mod quota;
pub mod render;
pub mod reports;
pub mod secrets;
pub mod server;
pub mod site;
pub mod sso;

pub use app::{App, AppState};

use std::future::Future;

use tokio::net::TcpListener;

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = app.config.connection_limits().fit_to_open_file_limit();
    let live = app.clone();
    let shutdown = async move {
        shutdown.await;
        live.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let drain = std::time::Duration::from_secs(live.config.drain_seconds);
        if !drain.is_zero() {
            tracing::info!(
                "draining for {} s: not ready, still serving",
                drain.as_secs()
            );
            tokio::time::sleep(drain).await;
        }
        live.site.close_subscriptions();
    };
    server::serve(listener, http::router(app), limits, shutdown).await
}
