//! The thin HTTP layer: routes, middleware, and handlers that look one thing up (or call one
//! domain function) and respond. Nothing below this module knows about axum.

mod answers;
mod auth;
mod client_addr;
mod error;
mod grading;
mod guard;
mod instructor;
mod labs;
mod ops;
mod pages;
mod session;
mod statics;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::app::AppState;

pub(crate) use error::Error;

/// Only Lectern's own scripts run. Styles also allow inline because mermaid.js writes `<style>`
/// and `style=""` into the SVG it generates; scripts, the XSS vector, stay `'self'` only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A page of the site around `body` (a rendered template), with the visitor's account area; private
/// to this visitor, so never stored by caches.
fn render_page(
    app: &AppState,
    status: StatusCode,
    title: &str,
    body: &impl askama::Template,
    visitor: Option<&session::Visitor>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let account = visitor
        .map(session::Visitor::account_html)
        .unwrap_or_default();
    let page = app
        .site
        .current()
        .wrap(title, &body.render().unwrap_or_default(), &account);
    (
        status,
        [(header::CACHE_CONTROL, "private, no-store")],
        axum::response::Html(page),
    )
        .into_response()
}

/// The whole application as one axum `Router`, middleware included.
pub fn router(app: AppState) -> Router {
    let timeout = app.config.request_timeout();
    let max_body = app.config.max_body;
    let [csp, nosniff, frame, referrer, coop, permissions] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=()",
        ),
    ]
    .map(|(name, value)| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    });
    Router::new()
        .route("/", get(pages::home))
        .route("/modules/{id}", get(pages::module))
        .route("/files/{*path}", get(pages::course_file))
        .route("/static/{*path}", get(statics::serve))
        .route("/api/labs/{lab}/steps/{step}/check", post(labs::check))
        .route("/api/labs/{lab}/steps/{step}/runs/latest", get(labs::latest))
        .route("/sign-in", get(auth::sign_in_page).post(auth::sign_in))
        .route("/sign-out", post(auth::sign_out))
        .route("/account/password", get(auth::password_page).post(auth::change_password))
        .route("/admin/users", get(auth::users_page).post(auth::add_user))
        .route("/admin/users/import", post(auth::import_users))
        .route("/admin/clusters", get(auth::clusters_page).post(auth::assign_cluster))
        .route("/instructor/cohort", get(instructor::cohort))
        .route("/instructor/learners/{id}", get(instructor::learner))
        .route("/instructor/stuck", get(instructor::stuck))
        .route("/instructor/grading", get(grading::queue))
        .route("/instructor/grading/answers/{id}", get(grading::answer).post(grading::save_grade))
        .route("/instructor/grading/release", post(grading::release))
        .route("/instructor/gradebook", get(grading::gradebook))
        .route("/instructor/gradebook.csv", get(grading::gradebook_csv))
        .route("/api/modules/{module}/questions/{question}/answer", get(answers::current).post(answers::save))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), session::gate))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard::guard))
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::new())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(csp)
                .layer(nosniff)
                .layer(frame)
                .layer(referrer)
                .layer(coop)
                .layer(permissions)
                .layer(CompressionLayer::new())
                .layer(RequestBodyLimitLayer::new(max_body))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)),
        )
}
