//! The thin HTTP layer: routes, middleware, and handlers that look one thing up (or call one
//! domain function) and respond. Nothing below this module knows about axum.

mod admin;
mod answers;
mod bridge;
mod client_addr;
mod error;
mod filters;
mod gradebook;
mod grading;
mod guard;
mod instructor;
mod labs;
mod live;
mod live_reload;
mod lti;
pub mod metrics;
mod ops;
mod pages;
mod paths;
mod session;
mod sign_in;
mod sso;
mod statics;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
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

/// Marks a response that a learning platform may frame (see `session::gate`): it goes without
/// `X-Frame-Options`, which cannot name an origin, and its CSP's `frame-ancestors` names the
/// platform instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FramedByPlatform;

/// A page of the site: a template rendered into the site's chrome with the visitor's account area,
/// private to this visitor (never stored by caches). The one way handlers answer with a page; a
/// template that fails to render is a logged 500, never an empty page.
pub(crate) struct Page<'a, T> {
    app: &'a AppState,
    status: StatusCode,
    title: &'a str,
    body: &'a T,
    visitor: Option<&'a session::Visitor>,
}

impl<'a, T: askama::Template> Page<'a, T> {
    /// A `200 OK` page titled `title`; `visitor` fills the account area.
    pub(crate) fn new(
        app: &'a AppState,
        title: &'a str,
        body: &'a T,
        visitor: Option<&'a session::Visitor>,
    ) -> Self {
        Self {
            app,
            status: StatusCode::OK,
            title,
            body,
            visitor,
        }
    }

    /// The same page with another status (a form shown again with its error, say).
    pub(crate) fn with_status(self, status: StatusCode) -> Self {
        Self { status, ..self }
    }
}

impl<T: askama::Template> axum::response::IntoResponse for Page<'_, T> {
    fn into_response(self) -> axum::response::Response {
        let body = match self.body.render() {
            Ok(body) => body,
            Err(e) => {
                return Error::internal(&format!("cannot render the page “{}”", self.title), e)
                    .into_response();
            }
        };
        let account = self
            .visitor
            .map(session::Visitor::account_html)
            .unwrap_or_default();
        let page = self.app.site.current().wrap(self.title, &body, &account);
        (
            self.status,
            [(header::CACHE_CONTROL, "private, no-store")],
            axum::response::Html(page),
        )
            .into_response()
    }
}

#[derive(askama::Template)]
#[template(path = "refusal.html")]
struct RefusalPage<'a> {
    heading: &'a str,
    message: &'a str,
    back: Option<(&'a str, &'a str)>,
}

/// An error's message (written to follow "error: ") as a sentence to show on its own: its first
/// letter upper-case.
pub(crate) fn as_sentence(message: &str) -> String {
    let mut sentence = message.to_owned();
    if let Some(first) = message.get(..1) {
        sentence.replace_range(..1, &first.to_uppercase());
    }
    sentence
}

/// A sign-in or launch that was refused, as a page: `heading`, the error's message as a sentence,
/// and optionally a way back (`href`, label). Single sign-on and LTI answer with it.
pub(crate) fn refusal(
    app: &AppState,
    status: StatusCode,
    heading: &str,
    error: &dyn std::fmt::Display,
    back: Option<(&str, &str)>,
) -> axum::response::Response {
    let sentence = as_sentence(&error.to_string());
    let page = RefusalPage {
        heading,
        message: &sentence,
        back,
    };
    axum::response::IntoResponse::into_response(
        Page::new(app, heading, &page, None).with_status(status),
    )
}

/// The whole application as one axum `Router`, middleware included.
pub fn router(app: AppState) -> Router {
    let timeout = app.config.request_timeout();
    let max_body = app.config.max_body;
    let [csp, nosniff, referrer, coop, permissions] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
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
    let frame = SetResponseHeaderLayer::if_not_present(
        header::X_FRAME_OPTIONS,
        |response: &axum::http::Response<_>| {
            let framed = response.extensions().get::<FramedByPlatform>().is_some();
            (!framed).then_some(HeaderValue::from_static("DENY"))
        },
    );
    Router::new()
        .route("/", get(pages::home))
        .route("/modules/{id}", get(pages::module))
        .route("/search", get(pages::search))
        .route("/files/{*path}", get(pages::course_file))
        .route("/static/{*path}", get(statics::serve))
        .route("/api/labs/{lab}/steps/{step}/check", post(labs::check))
        .route("/api/live-reload", get(live_reload::events))
        .route("/api/labs/{lab}/steps/{step}/start", post(live::start))
        .route("/api/labs/{lab}/live", get(live::follow))
        .route("/api/cluster/preflight", post(labs::preflight))
        .route("/api/labs/{lab}/steps/{step}/runs/latest", get(labs::latest))
        .route("/sign-in", get(sign_in::sign_in_page).post(sign_in::sign_in))
        .route("/sign-in/oidc", get(sso::begin))
        .route("/sign-in/oidc/callback", get(sso::callback))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/account/password", get(sign_in::password_page).post(sign_in::change_password))
        .route("/admin/users", get(admin::users_page).post(admin::add_user))
        .route("/admin/users/import", post(admin::import_users))
        .route("/admin/users/{id}", get(admin::account_page).post(admin::update_account))
        .route("/admin/users/{id}/password", post(admin::reset_password))
        .route("/admin/users/{id}/deactivate", post(admin::deactivate))
        .route("/admin/users/{id}/reactivate", post(admin::reactivate))
        .route("/admin/clusters", get(admin::clusters_page).post(admin::assign_cluster))
        .route("/admin/clusters/{id}/unassign", post(admin::unassign_cluster))
        .route("/admin/clusters/{id}/test", post(admin::test_cluster))
        .route("/api/admin/clusters/reachability", get(admin::clusters_reachability))
        .route("/admin/lti", get(lti::admin_page).post(lti::register))
        .route("/admin/lti/retry", post(lti::retry))
        .route("/lti/login", get(lti::login_get).post(lti::login_post))
        .route("/lti/launch", post(lti::launch))
        .route("/lti/jwks", get(lti::jwks))
        .route("/lti/deep-link/{id}", get(lti::deep_link_page).post(lti::deep_link_choose))
        .route("/instructor/cohort", get(instructor::cohort))
        .route("/instructor/learners/{id}", get(instructor::learner))
        .route("/instructor/stuck", get(instructor::stuck))
        .route("/api/instructor/live", get(instructor::live_board))
        .route("/instructor/grading", get(grading::queue))
        .route("/instructor/grading/answers/{id}", get(grading::answer).post(grading::save_grade))
        .route("/instructor/grading/release", post(grading::release))
        .route("/instructor/grading/withdraw", post(grading::withdraw))
        .route("/instructor/gradebook", get(gradebook::gradebook))
        .route("/instructor/gradebook.csv", get(gradebook::gradebook_csv))
        .route("/api/modules/{module}/questions/{question}/answer", get(answers::current).post(answers::save))
        .route(
            "/api/modules/{module}/questions/{question}/self-assessment",
            get(answers::self_assessment_sheet).post(answers::self_assess),
        )
        .route("/my-work", get(answers::my_work))
        .route("/connect", get(bridge::connect_page))
        .route("/connect/code", post(bridge::create_code))
        .route("/connect/pairings/{id}/revoke", post(bridge::revoke))
        .route("/api/bridge", get(bridge::socket))
        .route("/api/bridge/pair", post(bridge::pair))
        .route("/api/bridge/status", get(bridge::status))
        .route("/api/replicas/bridges/{learner}", get(bridge::held))
        .route("/api/replicas/bridges/{learner}/relay", post(bridge::relay_for_peer))
        .route("/api/replicas/bridges/{learner}/watch", post(bridge::watch_for_peer))
        .route("/api/replicas/bridges/{learner}/note", post(bridge::note_for_peer))
        .route("/api/replicas/bridges/{learner}/close", post(bridge::close_for_peer))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(metrics::on_main_address))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            pages::forget_progress_after_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(app.clone(), session::gate))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard::guard))
        .layer(axum::middleware::from_fn_with_state(app.clone(), error::render))
        .layer(axum::middleware::from_fn_with_state(app.clone(), metrics::track))
        .with_state(app)
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::new())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO))
                        // Every response is logged above with its status; causes are logged
                        // where they happen (a database error, a bug). A 503 while draining or a
                        // cluster's 502 is not a server failure to log again at ERROR.
                        .on_failure(()),
                )
                .layer(csp)
                .layer(nosniff)
                .layer(frame)
                .layer(referrer)
                .layer(coop)
                .layer(permissions)
                .layer(CompressionLayer::new().compress_when(
                    DefaultPredicate::new().and(statics::not_precompressed),
                ))
                .layer(RequestBodyLimitLayer::new(max_body))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use clap::Parser;

    struct Unprintable;

    impl std::fmt::Display for Unprintable {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Err(std::fmt::Error)
        }
    }

    #[derive(askama::Template)]
    #[template(source = "<p>{{ value }}</p>", ext = "html")]
    struct Failing {
        value: Unprintable,
    }

    #[tokio::test]
    async fn a_template_that_fails_to_render_is_a_500_never_an_empty_page() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("lectern.db");
        let cli =
            crate::config::Cli::try_parse_from(["lectern", "serve", "--db", db.to_str().unwrap()])
                .unwrap();
        let crate::config::Command::Serve(config) = cli.command else {
            panic!("serve")
        };
        let app = crate::App::build(*config).await.unwrap();
        let page = Failing { value: Unprintable };
        let response = Page::new(&app, "Broken", &page, None).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response.extensions().get::<error::Problem>().is_some(),
            "answered as an error, so error::render writes the page by route kind"
        );
    }
}
