//! Endpoints for the course pages and the files they link to.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::Error;
use super::session::Visitor;
use crate::app::AppState;
use crate::render::is_source_file;

/// Pages may change on reload, so browsers revalidate them with the ETag every time.
const PAGE_CACHE: &str = "no-cache";

/// `/`: the course home.
pub(super) async fn home(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    page(&app, "/", &headers, "", &visitor)
}

/// `/modules/{id}`: one module.
pub(super) async fn module(
    State(app): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let missing = format!("There is no module “{id}” in this course.");
    page(
        &app,
        &format!("/modules/{id}"),
        &headers,
        &missing,
        &visitor,
    )
}

/// `/files/{path}`: images and downloads that course pages link to (never the course's sources).
pub(super) async fn course_file(
    State(app): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let site = app.site.current();
    let body = (!is_source_file(&path))
        .then(|| site.course.files.get(&path))
        .flatten();
    let Some(body) = body else {
        return Err(Error::NotFound(
            site.not_found(&format!("There is no file “{path}” in this course.")),
        ));
    };
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
        Bytes::copy_from_slice(body),
    ))
}

/// Any other path.
pub(super) async fn not_found(State(app): State<AppState>, uri: Uri) -> Error {
    Error::NotFound(
        app.site
            .current()
            .not_found(&format!("There is nothing at {}.", uri.path())),
    )
}

fn page(
    app: &AppState,
    path: &str,
    headers: &HeaderMap,
    missing: &str,
    visitor: &Visitor,
) -> Result<Response, Error> {
    let site = app.site.current();
    let Some(page) = site.page(path) else {
        return Err(Error::NotFound(site.not_found(missing)));
    };
    if let Visitor::Local = visitor {
        return Ok(cached(
            headers,
            &page.etag,
            PAGE_CACHE,
            "text/html; charset=utf-8",
            page.body.clone(),
        ));
    }
    // Signed in: the cached page around this person's account area; private, never stored by caches.
    let parts = [
        page.head.clone(),
        Bytes::from(visitor.account_html()),
        page.tail.clone(),
    ];
    let body = Body::from_stream(futures::stream::iter(
        parts.map(Ok::<_, std::convert::Infallible>),
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
