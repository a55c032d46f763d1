//! Typed path extractors: a URL's ids are resolved against the course being served before the
//! handler runs, so an unknown module, lab step or question is a 404 that names it, without a query.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use super::Error;
use crate::app::AppState;

async fn segments<T>(parts: &mut Parts, app: &AppState) -> Result<T, Error>
where
    T: serde::de::DeserializeOwned + Send,
{
    Path::<T>::from_request_parts(parts, app)
        .await
        .map(|Path(value)| value)
        .map_err(|e| Error::BadRequest(e.body_text()))
}

/// `/modules/{id}`: a module of the course.
pub(super) struct ModulePath(pub(super) String);

impl FromRequestParts<AppState> for ModulePath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let id: String = segments(parts, app).await?;
        if app.site.current().course().module(&id).is_none() {
            return Err(Error::NotFound(format!(
                "There is no module “{id}” in this course."
            )));
        }
        Ok(Self(id))
    }
}

/// `/api/labs/{lab}/…`: a lab of the course.
pub(super) struct LabPath(pub(super) String);

impl FromRequestParts<AppState> for LabPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let lab: String = segments(parts, app).await?;
        if app.site.current().course().lab(&lab).is_none() {
            return Err(Error::NotFound(format!("there is no lab `{lab}`")));
        }
        Ok(Self(lab))
    }
}

/// `/api/labs/{lab}/steps/{step}/…`: a step of a lab.
pub(super) struct LabStepPath {
    pub(super) lab: String,
    pub(super) step: String,
}

impl FromRequestParts<AppState> for LabStepPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let (lab, step): (String, String) = segments(parts, app).await?;
        let site = app.site.current();
        if site.course().lab(&lab).is_none() {
            return Err(Error::NotFound(format!("there is no lab `{lab}`")));
        }
        if site.course().lab_step(&lab, &step).is_none() {
            return Err(Error::NotFound(format!("lab `{lab}` has no step `{step}`")));
        }
        Ok(Self { lab, step })
    }
}

/// `/api/modules/{module}/questions/{question}/…`: a question of a module.
pub(super) struct QuestionPath {
    pub(super) module: String,
    pub(super) question: String,
}

impl FromRequestParts<AppState> for QuestionPath {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Error> {
        let (module, question): (String, String) = segments(parts, app).await?;
        let site = app.site.current();
        if site.course().module(&module).is_none() {
            return Err(Error::NotFound(format!("there is no module `{module}`")));
        }
        if site.course().question(&module, &question).is_none() {
            return Err(Error::NotFound(format!(
                "module `{module}` has no question `{question}`"
            )));
        }
        Ok(Self { module, question })
    }
}
