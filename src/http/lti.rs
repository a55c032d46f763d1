//! LTI 1.3 endpoints: the platform's login initiation (`/lti/login`) and launch (`/lti/launch`),
//! and the admin's registration page (`/admin/lti`), which also gives the values to paste into the
//! learning platform.

use super::client_addr::ClientAddr;
use super::filters;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::session::{
    Admin, CookieSite, CsrfForm, Instructor, SESSION_COOKIE, cookie, csrf_field, set_cookie,
};
use super::{Error, Page};
use crate::app::AppState;
use crate::lti::{self, LaunchForm, LoginInitiation, LtiError, NewPlatform, Platform};

/// This server's public URL (LTI needs absolute addresses).
fn public_url(app: &AppState) -> Result<&str, Error> {
    app.config
        .public_url
        .as_deref()
        .map(|u| u.trim_end_matches('/'))
        .ok_or_else(|| {
            Error::NotFound(
                "LTI needs the server's public address: start it with --public-url.".to_owned(),
            )
        })
}

/// `GET|POST /lti/login`: third-party-initiated login; answers with the authentication request.
pub(super) async fn login_get(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    Query(initiation): Query<LoginInitiation>,
) -> Result<Response, Error> {
    login(&app, client, &initiation).await
}

/// `POST /lti/login`, the same as a form post.
pub(super) async fn login_post(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    Form(initiation): Form<LoginInitiation>,
) -> Result<Response, Error> {
    login(&app, client, &initiation).await
}

async fn login(
    app: &AppState,
    client: std::net::IpAddr,
    initiation: &LoginInitiation,
) -> Result<Response, Error> {
    // Each login begun keeps a row until its launch or expiry: throttled before that write.
    app.quotas
        .sign_in_starts
        .take_for_address(client)
        .map_err(|wait| Error::too_many("starting sign-ins", wait))?;
    let launch_url = format!("{}/lti/launch", public_url(app)?);
    match lti::begin_login(&app.db, &launch_url, initiation).await {
        Ok(started) => {
            let mut response = Redirect::to(&started.redirect_to).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &lti::state_cookie_name(&started.state),
                    &started.state,
                    "/lti/launch",
                    CookieSite::CrossSite,
                    LAUNCH_COOKIE_SECS,
                    true,
                ),
            );
            Ok(response)
        }
        Err(e) => Ok(problem(app, e)),
    }
}

/// How long the browser keeps a login's state cookie: as long as the login may take.
const LAUNCH_COOKIE_SECS: u64 = 600;

/// `POST /lti/launch`: the platform's signed launch; a session and the activity's page. The
/// browser must bring the state cookie `/lti/login` gave it (the launch is bound to it).
///
/// The platform usually shows the tool in an iframe, where the session cookie is a third-party
/// cookie: it is `SameSite=None; Secure` (else the browser would not send it inside the frame) and
/// `Partitioned` (CHIPS: kept per top-level site, so it still works where third-party cookies are
/// blocked, and no other site's frame of Lectern carries it). Only launches set such a cookie.
pub(super) async fn launch(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LaunchForm>,
) -> Result<Response, Error> {
    let public = public_url(&app)?;
    let sent_from = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    let state_cookie = lti::state_cookie_name(form.state.as_deref().unwrap_or_default());
    let state_kept = cookie(&headers, &state_cookie);
    let launched = lti::launch(
        &app.db,
        &app.passwords.hasher,
        public,
        &form,
        sent_from,
        state_kept,
    )
    .await;
    match launched {
        Ok(launched) => {
            let mut response = Redirect::to(&launched.target).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    &state_cookie,
                    "",
                    "/lti/launch",
                    CookieSite::CrossSite,
                    0,
                    true,
                ),
            );
            response.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(
                    SESSION_COOKIE,
                    &launched.token,
                    "/",
                    CookieSite::CrossSite,
                    app.config.session_policy().absolute.as_secs(),
                    true,
                ),
            );
            Ok(response)
        }
        Err(LtiError::Database(e)) => Err(e.into()),
        Err(e) => Ok(problem(&app, e)),
    }
}

/// `GET /lti/jwks`: Lectern's public keys as an LTI tool (platforms read them to verify what
/// Lectern signs).
pub(super) async fn jwks(State(app): State<AppState>) -> Result<Response, Error> {
    match lti::keys::tool_jwks(&app.db).await {
        Ok(keys) => Ok((
            [(header::CACHE_CONTROL, "public, max-age=3600")],
            axum::Json(keys),
        )
            .into_response()),
        Err(LtiError::Database(e)) => Err(e.into()),
        Err(e) => Err(Error::internal("LTI keys", e)),
    }
}

/// A refused launch as a page, saying what to do (its status from `http::error`).
fn problem(app: &AppState, error: LtiError) -> Response {
    let error = Error::from(error);
    super::refusal(app, error.status(), "Launch refused", &error, None)
}

#[derive(Template)]
#[template(path = "admin_lti.html")]
struct PlatformsPage<'a> {
    public: &'a str,
    platforms: &'a [Platform],
    failing: &'a [lti::passback::FailingScore],
    error: Option<&'a str>,
    done: Option<&'a str>,
    csrf: &'a str,
}

async fn platforms_page(
    app: &AppState,
    admin: &Admin,
    status: StatusCode,
    error: Option<&str>,
    done: Option<&str>,
) -> Result<Response, Error> {
    let platforms = lti::platforms(&app.db).await?;
    let failing = lti::passback::failing(&app.db).await?;
    let page = PlatformsPage {
        failing: &failing,
        public: app
            .config
            .public_url
            .as_deref()
            .map_or("<public URL>", |u| u.trim_end_matches('/')),
        platforms: &platforms,
        error,
        done,
        csrf: &admin.session.csrf_token,
    };
    Ok(Page::new(app, "LTI", &page, Some(&admin.visitor))
        .with_status(status)
        .into_response())
}

/// `GET /admin/lti`.
pub(super) async fn admin_page(
    State(app): State<AppState>,
    admin: Admin,
) -> Result<Response, Error> {
    platforms_page(&app, &admin, StatusCode::OK, None, None).await
}

/// `POST /admin/lti/retry`: every failed score is tried again at once.
pub(super) async fn retry(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(_): CsrfForm<super::session::CsrfOnly>,
) -> Result<Response, Error> {
    let n = lti::passback::retry_now(&app.db).await?;
    let done = format!("Trying {n} learner's scores again now.");
    platforms_page(&app, &admin, StatusCode::OK, None, Some(&done)).await
}

/// Form of `POST /admin/lti`.
#[derive(serde::Deserialize)]
pub(super) struct RegisterForm {
    csrf: String,
    #[serde(flatten)]
    platform: NewPlatform,
}

csrf_field!(RegisterForm);

/// `POST /admin/lti`: registers a platform.
pub(super) async fn register(
    State(app): State<AppState>,
    admin: Admin,
    CsrfForm(form): CsrfForm<RegisterForm>,
) -> Result<Response, Error> {
    match lti::register(&app.db, &form.platform).await {
        Ok(platform) => {
            let done = format!("Registered {}.", platform.name);
            platforms_page(&app, &admin, StatusCode::OK, None, Some(&done)).await
        }
        Err(LtiError::Database(e)) => Err(e.into()),
        Err(e) => {
            let message = e.to_string();
            platforms_page(&app, &admin, StatusCode::BAD_REQUEST, Some(&message), None).await
        }
    }
}

#[derive(Template)]
#[template(path = "lti_deep_link.html")]
struct ChooserPage<'a> {
    id: i64,
    modules: Vec<(String, String, String)>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "lti_deep_link_answer.html")]
struct AnswerPage<'a> {
    answer: &'a lti::deep_link::Answer,
}

/// `GET /lti/deep-link/{id}`: the instructor adding Lectern to a course picks a module.
pub(super) async fn deep_link_page(
    State(app): State<AppState>,
    staff: Instructor,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    if !lti::deep_link::waiting(&app.db, id, staff.session.user.learner_id)
        .await
        .map_err(lti_error)?
    {
        return Err(Error::NotFound(
            "This choice has expired or was made already: add the activity again from your course."
                .to_owned(),
        ));
    }
    let site = app.site.current();
    let modules = site
        .course()
        .modules
        .iter()
        .map(|m| (m.id.to_string(), m.title.clone(), m.summary.clone()))
        .collect();
    let page = ChooserPage {
        id,
        modules,
        csrf: &staff.session.csrf_token,
    };
    Ok(Page::new(
        &app,
        "Add Lectern to your course",
        &page,
        Some(&staff.visitor),
    )
    .into_response())
}

/// Form of `POST /lti/deep-link/{id}`.
#[derive(serde::Deserialize)]
pub(super) struct ChooseForm {
    csrf: String,
    module: String,
    /// The checkbox: present when ticked.
    per_question: Option<String>,
}

csrf_field!(ChooseForm);

/// `POST /lti/deep-link/{id}`: the signed answer, for the instructor's browser to post back to the
/// platform (this page alone may send a form there).
pub(super) async fn deep_link_choose(
    State(app): State<AppState>,
    staff: Instructor,
    Path(id): Path<i64>,
    CsrfForm(form): CsrfForm<ChooseForm>,
) -> Result<Response, Error> {
    let public = public_url(&app)?;
    let site = app.site.current();
    let answer = lti::deep_link::choose(
        &app.db,
        site.course(),
        public,
        id,
        staff.session.user.learner_id,
        &lti::deep_link::Choice {
            module_id: &form.module,
            per_question: form.per_question.is_some(),
        },
    )
    .await
    .map_err(lti_error)?;
    let origin = openidconnect::url::Url::parse(&answer.return_url)
        .map(|u| u.origin().ascii_serialization())
        .map_err(|_| Error::BadRequest("the platform's return URL is not a URL".to_owned()))?;
    let csp = super::CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    let mut response = Page::new(
        &app,
        "Add to your course",
        &AnswerPage { answer: &answer },
        Some(&staff.visitor),
    )
    .into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}

/// LTI errors on staff pages, by their meaning.
fn lti_error(error: LtiError) -> Error {
    match error {
        LtiError::Database(e) => e.into(),
        LtiError::BadState => Error::NotFound(
            "This choice has expired or was made already: add the activity again from your course."
                .to_owned(),
        ),
        LtiError::Invalid(m) => Error::BadRequest(m),
        other => Error::BadRequest(other.to_string()),
    }
}
