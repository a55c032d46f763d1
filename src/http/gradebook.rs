//! Endpoints for the gradebook: per learner and module, on a page and as a CSV download (the report
//! itself is [`crate::reports::gradebook`]).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::grading::module_choices;
use super::session::Instructor;
use super::{Error, Page};
use crate::app::AppState;
use crate::progress;
use crate::reports::gradebook::{self, Cell, Detail, GradebookFilter, Table};

/// Query of the gradebook and its CSV.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct GradebookQuery {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    cohort: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    module: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    detail: String,
}

impl GradebookQuery {
    fn domain(&self) -> Result<GradebookFilter, Error> {
        let some = |s: &str| Some(s.to_owned()).filter(|s| !s.is_empty());
        Ok(GradebookFilter {
            cohort: some(&self.cohort),
            module: some(&self.module),
            detail: Detail::parse(&self.detail).map_err(Error::BadRequest)?,
        })
    }
}

#[derive(Template)]
#[template(path = "gradebook.html")]
struct GradebookPage<'a> {
    query: &'a GradebookQuery,
    csv_link: String,
    cohorts: Vec<String>,
    modules: Vec<(String, String)>,
    grades: &'a Table,
    averages: &'a Table,
}

impl GradebookPage<'_> {
    fn is_number(cell: &Cell) -> bool {
        !matches!(cell, Cell::Text(_))
    }
}

/// `GET /instructor/gradebook`.
pub(super) async fn gradebook(
    State(app): State<AppState>,
    staff: Instructor,
    Query(query): Query<GradebookQuery>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let course = &site.course();
    let book = gradebook::build(&app.db, course, staff.scope, &query.domain()?).await?;
    let query_string = serde_urlencoded::to_string(&query).unwrap_or_default();
    let page = GradebookPage {
        query: &query,
        csv_link: format!("/instructor/gradebook.csv?{query_string}"),
        cohorts: progress::cohorts(&app.db, staff.scope).await?,
        modules: module_choices(course),
        grades: &book.shares,
        averages: &book.averages,
    };
    Ok(Page::new(&app, "Gradebook", &page, Some(&staff.visitor)).into_response())
}

/// `GET /instructor/gradebook.csv`: the same rows as a download.
pub(super) async fn gradebook_csv(
    State(app): State<AppState>,
    staff: Instructor,
    Query(query): Query<GradebookQuery>,
) -> Result<Response, Error> {
    let site = app.site.current();
    let book = gradebook::build(&app.db, site.course(), staff.scope, &query.domain()?).await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/csv; charset=utf-8; header=present",
            ),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"lectern-gradebook.csv\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        gradebook::to_csv(&book.grades),
    )
        .into_response())
}
