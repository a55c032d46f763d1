//! LTI deep linking: an instructor adding Lectern to a course is shown the modules, picks one, and
//! Lectern answers the platform with a signed `LtiDeepLinkingResponse` naming that module (and a
//! line item for its score), which the instructor's browser posts back to the platform.

use sqlx::AnyPool;

use super::{LtiError, keys, store};
use crate::content::Course;
use crate::secrets::random_hex;

/// How long an instructor may take to choose.
const CHOICE_LIFETIME_SECS: i64 = 3600;

/// The `deep_linking_settings` claim of a deep-linking request.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Settings {
    pub(super) deep_link_return_url: String,
    #[serde(default)]
    pub(super) accept_types: Vec<String>,
    pub(super) data: Option<String>,
}

/// Keeps a deep-linking request for its instructor; answers its id (for `/lti/deep-link/{id}`).
pub(super) async fn keep(
    pool: &AnyPool,
    learner_id: i64,
    platform_id: i64,
    deployment_id: &str,
    settings: &Settings,
) -> Result<i64, LtiError> {
    if !settings.accept_types.iter().any(|t| t == "ltiResourceLink") {
        return Err(LtiError::Rejected(
            "the platform accepts no resource links here".to_owned(),
        ));
    }
    Ok(store::insert_deep_link(
        pool,
        learner_id,
        &store::PendingDeepLink {
            platform_id,
            deployment_id: deployment_id.to_owned(),
            return_url: settings.deep_link_return_url.clone(),
            data: settings.data.clone(),
            created_at: crate::clock::unix_seconds(),
        },
    )
    .await?)
}

/// Whether the instructor has a deep-linking request `id` waiting (the chooser page).
pub async fn waiting(pool: &AnyPool, id: i64, learner_id: i64) -> Result<bool, LtiError> {
    Ok(store::deep_link(pool, id, learner_id, false)
        .await?
        .is_some_and(|link| crate::clock::unix_seconds() - link.created_at <= CHOICE_LIFETIME_SECS))
}

/// What goes back to the platform: where, and the signed response.
pub struct Answer {
    /// The platform's deep-link return URL (the form's action).
    pub return_url: String,
    /// The signed `LtiDeepLinkingResponse` (the form's `JWT` field).
    pub jwt: String,
    /// The chosen module's title.
    pub title: String,
}

/// The instructor's choice.
pub struct Choice<'a> {
    /// The module the activity opens.
    pub module_id: &'a str,
    /// Also a grade column per question (the link's custom parameter asks for them at launch).
    pub per_question: bool,
}

/// Answers request `id` with the chosen module: a resource link to its page on this server
/// (`public_url`), with a line item worth its checked steps and points.
pub async fn choose(
    pool: &AnyPool,
    course: &Course,
    public_url: &str,
    id: i64,
    learner_id: i64,
    choice: &Choice<'_>,
) -> Result<Answer, LtiError> {
    let module_id = choice.module_id;
    let module = course
        .module(module_id)
        .ok_or_else(|| LtiError::Invalid(format!("there is no module `{module_id}`")))?;
    let Some(link) = store::deep_link(pool, id, learner_id, true).await? else {
        return Err(LtiError::BadState);
    };
    if crate::clock::unix_seconds() - link.created_at > CHOICE_LIFETIME_SECS {
        return Err(LtiError::BadState);
    }
    let Some(platform) = store::by_id(pool, link.platform_id).await? else {
        return Err(LtiError::BadState);
    };
    let steps = module.lab.as_ref().map_or(0, |lab| {
        lab.steps.iter().filter(|s| !s.checks.is_empty()).count()
    }) as u32;
    let points: u32 = module.questions.iter().map(|q| q.points).sum();
    let issued = crate::clock::unix_seconds();
    let mut claims = serde_json::json!({
        "iss": platform.client_id,
        "aud": platform.issuer,
        "iat": issued,
        "exp": issued + 600,
        "nonce": random_hex::<16>(),
        "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiDeepLinkingResponse",
        "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
        "https://purl.imsglobal.org/spec/lti/claim/deployment_id": link.deployment_id,
        "https://purl.imsglobal.org/spec/lti-dl/claim/content_items": [{
            "type": "ltiResourceLink",
            "title": module.title,
            "text": module.summary,
            "url": format!("{}/modules/{}", public_url.trim_end_matches('/'), module.id),
            "lineItem": {
                "scoreMaximum": steps + points,
                "label": module.title,
                "resourceId": module.id.to_string(),
            },
        }],
    });
    if choice.per_question {
        let (key, value) = super::PER_QUESTION;
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]["custom"] =
            serde_json::json!({ key: value });
    }
    if let Some(data) = link.data {
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = data.into();
    }
    Ok(Answer {
        return_url: link.return_url,
        jwt: keys::sign(pool, &claims).await?,
        title: module.title.clone(),
    })
}
