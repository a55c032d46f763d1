//! Endpoints for the course pages and the files they link to.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use askama::Template;

use super::Error;
use super::filters;
use super::paths::ModulePath;
use super::session::Visitor;
use crate::app::AppState;
use crate::site::{Site, Slot};
use crate::{auth, clock, progress, reports};

/// Pages may change on reload, so browsers revalidate them with the ETag every time.
const PAGE_CACHE: &str = "no-cache";

/// `/`: the course home.
pub(super) async fn home(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    page(&app, "/", &headers, "", &visitor).await
}

/// `/modules/{id}`: one module.
pub(super) async fn module(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    ModulePath(id): ModulePath,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let missing = format!("There is no module “{id}” in this course.");
    let response = page(
        &app,
        &format!("/modules/{id}"),
        &headers,
        &missing,
        &visitor,
    )
    .await?;
    if let Err(e) = app
        .progress
        .opened(&app.db, visitor.learner_id(), &id)
        .await
    {
        tracing::warn!(error = %e, "could not record a module visit");
    }
    Ok(response)
}

/// `/files/{path}`: images and downloads that course pages link to; nothing else of the course folder.
/// A file that only model answers link to is for staff: learners in a portal get the same 404 as
/// for a file that does not exist, so its name gives nothing away.
pub(super) async fn course_file(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let site = app.site.current();
    let missing = || Error::NotFound(format!("There is no file “{path}” in this course."));
    let Some(body) = site.rendered.assets.get(&path) else {
        return Err(missing());
    };
    if site.rendered.staff_assets.contains(&path) && !visitor.sees_grading_material() {
        return Err(missing());
    }
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"{:016x}\"", hasher.finish());
    let content_type = mime_guess::from_path(&path)
        .first_or_octet_stream()
        .to_string();
    Ok(cached(
        &headers,
        &etag,
        PAGE_CACHE,
        &content_type,
        body.clone(),
    ))
}

/// After a request that may write (any method but `GET`, `HEAD`, `OPTIONS`), forgets the
/// progress kept for pages: the learner's own, or everyone's after a staff member's (a grade
/// released changes the learners'). Anonymous requests change no one's progress.
pub(super) async fn forget_progress_after_writes(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let visitor = writes
        .then(|| request.extensions().get::<Visitor>().cloned())
        .flatten();
    let response = next.run(request).await;
    match visitor {
        Some(visitor) if visitor.sees_grading_material() => app.progress.everyone_changed(),
        Some(visitor) => app.progress.learner_changed(visitor.learner_id()),
        None => {}
    }
    response
}

/// Any other path.
pub(super) async fn not_found(uri: Uri) -> Error {
    Error::NotFound(format!("There is nothing at {}.", uri.path()))
}

async fn page(
    app: &AppState,
    path: &str,
    headers: &HeaderMap,
    missing: &str,
    visitor: &Visitor,
) -> Result<Response, Error> {
    let site = app.site.current();
    let Some(page) = site.page(path) else {
        return Err(Error::NotFound(missing.to_owned()));
    };
    if matches!(visitor, Visitor::Local) && !page.slots.contains(&Slot::Progress) {
        return Ok(cached(
            headers,
            &page.etag,
            PAGE_CACHE,
            "text/html; charset=utf-8",
            page.body.clone(),
        ));
    }
    // The cached page around this visitor's own parts; private, never stored by caches.
    let mut parts = Vec::with_capacity(page.segments.len() * 2);
    for (i, segment) in page.segments.iter().enumerate() {
        parts.push(segment.clone());
        match page.slots.get(i) {
            Some(Slot::Account) => parts.push(Bytes::from(visitor.account_html())),
            Some(Slot::Progress) => {
                parts.push(Bytes::from(progress_html(app, &site, visitor).await?))
            }
            None => {}
        }
    }
    let body = Body::from_stream(futures::stream::iter(
        parts.into_iter().map(Ok::<_, std::convert::Infallible>),
    ));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "partials/progress.html")]
struct ProgressSection<'a> {
    overall: u32,
    /// Module title, link, and whether the learner has opened it (continue) or not (start).
    continue_at: Option<(&'a str, String, bool)>,
    modules: &'a [progress::ModuleProgress],
}

#[derive(Template)]
#[template(path = "partials/dashboard.html")]
struct DashboardSection<'a> {
    dashboard: &'a reports::dashboard::Dashboard,
    inactive_days: i64,
}

/// The course home's own part: the staff home for instructors and admins, the learner's progress
/// for everyone else.
async fn progress_html(app: &AppState, site: &Site, visitor: &Visitor) -> Result<String, Error> {
    if let Visitor::SignedIn { session, .. } = visitor
        && session.user.role >= auth::Role::Instructor
    {
        let scope = auth::staff_scope(&app.db, &session.user).await?;
        let dashboard =
            reports::dashboard::build(&app.db, site.course(), scope, clock::unix_seconds()).await?;
        return DashboardSection {
            dashboard: &dashboard,
            inactive_days: reports::standing::INACTIVE_AFTER_DAYS,
        }
        .render()
        .map_err(|e| Error::internal("cannot render the staff home", e));
    }
    let progress = app
        .progress
        .for_learner(&app.db, site.course(), visitor.learner_id())
        .await
        .map_err(Error::from)?;
    let continue_at = progress
        .continue_at()
        .map(|(m, href)| (m.title.as_str(), href, m.opened));
    let section = ProgressSection {
        overall: progress.percent(),
        continue_at,
        modules: &progress.modules,
    };
    section
        .render()
        .map_err(|e| Error::internal("cannot render the progress section", e))
}

/// A response with validators: `304 Not Modified` when the client's copy is current.
pub(super) fn cached(
    request: &HeaderMap,
    etag: &str,
    cache_control: &'static str,
    content_type: &str,
    body: Bytes,
) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let etag = HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"\""));
    let cache_control = HeaderValue::from_static(cache_control);
    if fresh {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response();
    }
    let content_type = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache_control),
            (header::CONTENT_TYPE, content_type),
        ],
        body,
    )
        .into_response()
}

/// Longest query `/search` takes.
const MOST_QUERY_CHARS: usize = 200;

/// `?q=` of `/search`.
#[derive(serde::Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    query: &'a str,
    hits: &'a [crate::site::search::Hit],
}

/// `GET /search?q=…`: the course's sections that hold every word, from the index built with the
/// site (nothing is fetched from anywhere, so it works air-gapped).
pub(super) async fn search(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    axum::extract::Query(query): axum::extract::Query<SearchQuery>,
) -> Result<Response, Error> {
    let text = query.q.trim();
    if text.chars().count() > MOST_QUERY_CHARS {
        return Err(Error::BadRequest(format!(
            "a search is at most {MOST_QUERY_CHARS} characters"
        )));
    }
    let site = app.site.current();
    let hits = site.search.search(text);
    let page = SearchPage {
        query: text,
        hits: &hits,
    };
    Ok(super::Page::new(&app, "Search", &page, Some(&visitor)).into_response())
}
