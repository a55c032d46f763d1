//! LTI 1.3: Lectern as a tool that learning platforms (Moodle, Canvas, Open edX) launch.
//!
//! An admin registers a platform (issuer, client id, its authorization, token and JWKS URLs, the
//! deployment ids). A launch is OpenID Connect third-party-initiated login: the platform calls
//! [`begin_login`] (`/lti/login`), Lectern answers with an authentication request to the platform,
//! and the platform posts back an `id_token` to [`launch`] (`/lti/launch`), which Lectern verifies
//! against the platform's JWKS (signature, `iss`, `aud`, `azp`, `exp`, single-use `nonce`), then
//! checks the deployment, the LTI version and the message type. LTI roles make learners or
//! instructors of that course only, the course context a cohort; the account is linked to (issuer,
//! client id, deployment, subject), since platforms may share an issuer.

pub mod deep_link;
pub mod keys;
pub mod passback;
mod store;

use std::str::FromStr;
use std::time::Duration;

use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, ClientId, IdToken, IssuerUrl, JsonWebKeySetUrl, Nonce};
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;

use crate::auth::IdentityKey;
use crate::auth::identity::{ProviderIdentity, adopt_issuer_only_identity, sign_in_with_identity};
use crate::auth::{AuthError, Hasher, Role, Session};
use crate::secrets::{random_hex, token_hash};

/// How long a platform may take between login initiation and launch.
const LAUNCH_LIFETIME_SECS: i64 = 600;

/// How long Lectern waits for a platform's JWKS.
const PLATFORM_TIMEOUT: Duration = Duration::from_secs(10);

/// A registered platform.
#[derive(Debug, Clone, Serialize)]
pub struct Platform {
    /// Its row.
    pub id: i64,
    /// What admins call it ("Moodle").
    pub name: String,
    /// The platform's issuer (`iss`).
    pub issuer: String,
    /// Lectern's client id there (the ID token's `aud`).
    pub client_id: String,
    /// Its OIDC authorization endpoint (where the authentication request goes).
    pub auth_url: String,
    /// Its OAuth 2 token endpoint (for grade passback).
    pub token_url: String,
    /// Its public keys.
    pub jwks_url: String,
    /// The deployments of Lectern there that may launch.
    pub deployment_ids: Vec<String>,
}

/// A platform as an admin enters it.
#[derive(Debug, Clone, Deserialize)]
pub struct NewPlatform {
    /// Its name.
    pub name: String,
    /// `iss`.
    pub issuer: String,
    /// Lectern's client id there.
    pub client_id: String,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// JWKS URL.
    pub jwks_url: String,
    /// Deployment ids, comma- or space-separated.
    pub deployment_ids: String,
}

/// Why a registration or a launch failed; the message is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum LtiError {
    /// The registration form is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The platform (issuer and client id) is registered already.
    #[error("a platform with issuer {0} and this client id is registered already")]
    Duplicate(String),
    /// A login from a platform nobody registered.
    #[error(
        "this learning platform ({0}) is not registered with Lectern: an admin registers it under LTI"
    )]
    UnknownPlatform(String),
    /// The launch's state is unknown, used or expired.
    #[error(
        "this launch has expired or was already used: open the activity again from your course"
    )]
    BadState,
    /// The launch was begun in another browser, or this one did not keep Lectern's cookie.
    #[error(
        "this launch was not begun in this browser, or your browser did not keep Lectern's cookie inside the course page: open the activity again, and if this repeats, open it in a new window"
    )]
    OtherBrowser,
    /// The platform's keys could not be read.
    #[error("Lectern cannot read the learning platform's keys right now; try again in a minute")]
    PlatformUnreachable,
    /// The ID token or its LTI claims failed a check.
    #[error(
        "the launch from your course could not be trusted, so you are not signed in ({0}); tell your instructor if this happens again"
    )]
    Rejected(String),
    /// The account side refused (deactivated).
    #[error(transparent)]
    Account(#[from] AuthError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The LTI claims of a launch's ID token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LtiClaims {
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/message_type")]
    message_type: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/version")]
    version: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/deployment_id")]
    deployment_id: Option<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri")]
    target_link_uri: Option<String>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti/claim/roles")]
    roles: Vec<String>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/context")]
    context: Option<Context>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti/claim/resource_link")]
    resource_link: Option<serde_json::Value>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint")]
    grades: Option<GradeService>,
    #[serde(rename = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings")]
    deep_linking: Option<deep_link::Settings>,
    #[serde(default, rename = "https://purl.imsglobal.org/spec/lti/claim/custom")]
    custom: serde_json::Map<String, serde_json::Value>,
}

/// The launch's Assignment and Grade Services claim: where its scores go.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct GradeService {
    #[serde(default)]
    scope: Vec<String>,
    /// The activity's own line item (the module's score).
    lineitem: Option<String>,
    /// The course's line-item container (where Lectern makes a line item per question).
    lineitems: Option<String>,
}

/// The AGS scope for posting scores.
const SCORE_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";

/// The AGS scope for making and reading line items.
const LINEITEM_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem";

/// The custom parameter (and its value) asking for a grade column per question as well as the
/// module's; deep linking sets it, and an admin may add it to a link by hand.
const PER_QUESTION: (&str, &str) = ("lectern_grades", "per-question");

/// Where a learner's module score goes, from their launch.
#[derive(Debug, Clone)]
struct GradeLink {
    learner_id: i64,
    platform_id: i64,
    module_id: String,
    /// The module's line item.
    lineitem: String,
    /// The person's `sub` at the platform.
    user_id: String,
    /// Also a line item per question, when the link asks for them and the platform allows it.
    per_question: Option<QuestionColumns>,
}

/// Where Lectern makes (and finds again) a line item per question: the course's container,
/// filtered by the resource link the learner launched.
#[derive(Debug, Clone)]
struct QuestionColumns {
    lineitems: String,
    resource_link_id: String,
}

impl AdditionalClaims for LtiClaims {}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Context {
    id: String,
    label: Option<String>,
    title: Option<String>,
}

type LaunchToken =
    IdToken<LtiClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// Registers a platform after checking the form.
pub async fn register(pool: &AnyPool, form: &NewPlatform) -> Result<Platform, LtiError> {
    let text = |value: &str, what: &str| {
        let value = value.trim();
        if value.is_empty() {
            Err(LtiError::Invalid(format!("{what} is required")))
        } else {
            Ok(value.to_owned())
        }
    };
    let url = |value: &str, what: &str| {
        let value = text(value, what)?;
        let parsed = openidconnect::url::Url::parse(&value)
            .map_err(|e| LtiError::Invalid(format!("{what} `{value}` is not a URL: {e}")))?;
        if !is_trusted_web_url(&parsed) {
            return Err(LtiError::Invalid(format!(
                "{what} must be an https:// URL (http:// only on this machine)"
            )));
        }
        Ok(value)
    };
    let deployment_ids: Vec<String> = form
        .deployment_ids
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect();
    if deployment_ids.is_empty() {
        return Err(LtiError::Invalid(
            "at least one deployment id is required (the LMS shows it when Lectern is added)"
                .to_owned(),
        ));
    }
    let platform = Platform {
        id: 0,
        name: text(&form.name, "a name")?,
        issuer: url(&form.issuer, "the issuer")?,
        client_id: text(&form.client_id, "the client id")?,
        auth_url: url(&form.auth_url, "the authorization URL")?,
        token_url: url(&form.token_url, "the token URL")?,
        jwks_url: url(&form.jwks_url, "the JWKS URL")?,
        deployment_ids,
    };
    if !store::insert(pool, &platform).await? {
        return Err(LtiError::Duplicate(platform.issuer));
    }
    Ok(platform)
}

/// Every registered platform.
pub async fn platforms(pool: &AnyPool) -> Result<Vec<Platform>, sqlx::Error> {
    store::all(pool).await
}

/// A platform's login initiation (`iss`, `login_hint`, `target_link_uri`, …).
#[derive(Debug, Default, Deserialize)]
pub struct LoginInitiation {
    /// The platform's issuer.
    pub iss: Option<String>,
    /// Opaque to Lectern; sent back.
    pub login_hint: Option<String>,
    /// Where the launch should land.
    pub target_link_uri: Option<String>,
    /// Opaque to Lectern; sent back.
    pub lti_message_hint: Option<String>,
    /// Which of Lectern's registrations at the platform (when it has several).
    pub client_id: Option<String>,
    /// The deployment (checked again at launch).
    pub lti_deployment_id: Option<String>,
}

/// A login begun: where to send the browser, and the state the launch must bring back, which the
/// browser also keeps (in a cookie named by [`state_cookie_name`]) so that only the browser that
/// began the login can finish it.
pub struct LoginStarted {
    /// The authentication request at the platform.
    pub redirect_to: String,
    /// The launch's state.
    pub state: String,
}

/// The name of the cookie that binds a launch's `state` to the browser that began its login: one
/// per login, so that two activities opening at once in one browser do not overwrite each other.
pub fn state_cookie_name(state: &str) -> String {
    let key: String = state
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("lectern_lti_{key}")
}

/// Answers a login initiation with the authentication request to send the browser to.
pub async fn begin_login(
    pool: &AnyPool,
    launch_url: &str,
    initiation: &LoginInitiation,
) -> Result<LoginStarted, LtiError> {
    let issuer = initiation.iss.as_deref().unwrap_or_default();
    let candidates = store::by_issuer(pool, issuer).await?;
    let platform = candidates
        .into_iter()
        .find(|p| {
            initiation
                .client_id
                .as_deref()
                .is_none_or(|c| c == p.client_id)
        })
        .ok_or_else(|| LtiError::UnknownPlatform(issuer.chars().take(200).collect()))?;
    let Some(login_hint) = initiation.login_hint.as_deref() else {
        return Err(LtiError::Invalid(
            "the login initiation has no login_hint".to_owned(),
        ));
    };
    let state = random_hex::<32>();
    let nonce = random_hex::<32>();
    store::insert_launch(
        pool,
        &token_hash(&state),
        &nonce,
        platform.id,
        crate::clock::unix_seconds(),
    )
    .await?;
    let mut url = openidconnect::url::Url::parse(&platform.auth_url)
        .map_err(|e| LtiError::Invalid(e.to_string()))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("scope", "openid")
            .append_pair("response_type", "id_token")
            .append_pair("response_mode", "form_post")
            .append_pair("prompt", "none")
            .append_pair("client_id", &platform.client_id)
            .append_pair("redirect_uri", launch_url)
            .append_pair("login_hint", login_hint)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce);
        if let Some(hint) = &initiation.lti_message_hint {
            query.append_pair("lti_message_hint", hint);
        }
    }
    Ok(LoginStarted {
        redirect_to: url.to_string(),
        state,
    })
}

/// The platform's post to the launch URL.
#[derive(Debug, Default, Deserialize)]
pub struct LaunchForm {
    /// The signed launch.
    pub id_token: Option<String>,
    /// The state `begin_login` made.
    pub state: Option<String>,
    /// An error instead (the platform could not authenticate the person).
    pub error: Option<String>,
}

/// A finished launch: the session and where it lands.
pub struct Launched {
    /// Session cookie token.
    pub token: String,
    /// The session.
    pub session: Session,
    /// Where to go: the module page the activity points to (else `/`), or, for an instructor
    /// adding the activity (deep linking), the page where they choose the module.
    pub target: String,
}

/// Verifies a launch and signs its person in. `public_url` is this server's, to keep the target
/// on it; `sent_from` is the launch request's `Origin`, the page of the platform that posted it;
/// `state_kept` is the value of the browser's [`state_cookie_name`] cookie, which must be the
/// launch's state: a launch that another browser began (an attacker's own, posted by a victim's
/// browser to sign it into the attacker's account) is refused.
pub async fn launch(
    pool: &AnyPool,
    hasher: &Hasher,
    public_url: &str,
    form: &LaunchForm,
    sent_from: Option<&str>,
    state_kept: Option<&str>,
) -> Result<Launched, LtiError> {
    if let Some(error) = &form.error {
        return Err(LtiError::Rejected(format!(
            "the platform answered {}",
            error.chars().take(64).collect::<String>()
        )));
    }
    let state = form.state.as_deref().unwrap_or_default();
    if state.is_empty() || state_kept != Some(state) {
        tracing::warn!("LTI launch posted by a browser that did not begin its login");
        return Err(LtiError::OtherBrowser);
    }
    let Some((nonce, platform_id, created_at)) =
        store::take_launch(pool, &token_hash(state)).await?
    else {
        tracing::warn!("LTI launch with an unknown or used state (a replay?)");
        return Err(LtiError::BadState);
    };
    if crate::clock::unix_seconds() - created_at > LAUNCH_LIFETIME_SECS {
        return Err(LtiError::BadState);
    }
    let Some(platform) = store::by_id(pool, platform_id).await? else {
        return Err(LtiError::BadState);
    };
    let token = LaunchToken::from_str(form.id_token.as_deref().unwrap_or_default())
        .map_err(|e| rejected(format!("the id_token is not a JWT: {e}")))?;
    let keys = platform_keys(&platform).await?;
    let issuer = IssuerUrl::new(platform.issuer.clone()).map_err(|e| rejected(e.to_string()))?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(platform.client_id.clone()),
        issuer,
        keys,
    );
    let claims = token
        .claims(&verifier, &Nonce::new(nonce))
        .map_err(|e| rejected(e.to_string()))?;
    crate::sso::check_authorized_party(
        claims.audiences().len(),
        claims.authorized_party().map(|a| a.as_str()),
        &platform.client_id,
    )
    .map_err(rejected)?;
    let lti = claims.additional_claims();
    if lti.version.as_deref() != Some("1.3.0") {
        return Err(rejected(format!(
            "LTI version {:?}, not 1.3.0",
            lti.version.as_deref().unwrap_or("missing")
        )));
    }
    let deep_linking =
        match lti.message_type.as_deref() {
            Some("LtiResourceLinkRequest") => None,
            Some("LtiDeepLinkingRequest") => Some(lti.deep_linking.clone().ok_or_else(|| {
                rejected("a deep-linking request without its settings".to_owned())
            })?),
            other => {
                return Err(rejected(format!(
                    "message type {:?} is neither a launch nor deep linking",
                    other.unwrap_or("missing")
                )));
            }
        };
    let deployment = lti.deployment_id.as_deref().unwrap_or_default();
    if !platform.deployment_ids.iter().any(|d| d == deployment) {
        return Err(rejected(format!(
            "deployment `{deployment}` is not registered for {}",
            platform.name
        )));
    }
    if deep_linking.is_none() && lti.resource_link.is_none() {
        return Err(rejected("the launch names no resource link".to_owned()));
    }
    let instructor = lti.roles.iter().any(|r| {
        r.ends_with("membership#Instructor")
            || r.ends_with("membership#Administrator")
            || r.ends_with("institution/person#Instructor")
            || r.ends_with("institution/person#Administrator")
    });
    let username_hint = claims
        .preferred_username()
        .map(|u| u.to_string())
        .or_else(|| {
            claims
                .email()
                .and_then(|e| e.as_str().split('@').next().map(str::to_owned))
        })
        .unwrap_or_else(|| format!("{}-user", platform.name.to_lowercase()));
    let cohort = lti.context.as_ref().map(|c| {
        c.label
            .clone()
            .or_else(|| c.title.clone())
            .unwrap_or_else(|| c.id.clone())
    });
    let identity = ProviderIdentity {
        key: IdentityKey {
            issuer: platform.issuer.clone(),
            client_id: platform.client_id.clone(),
            deployment_id: deployment.to_owned(),
            subject: claims.subject().to_string(),
        },
        username_hint,
        role: Some(if instructor {
            Role::Instructor
        } else {
            Role::Learner
        }),
        cohort: Some(cohort),
        staff_of_cohort_only: true,
    };
    if lti
        .target_link_uri
        .as_deref()
        .is_some_and(|t| t.chars().any(char::is_control))
    {
        return Err(LtiError::Invalid(
            "the launch's target_link_uri is not a valid address (it has control characters)"
                .to_owned(),
        ));
    }
    let target = lti
        .target_link_uri
        .as_deref()
        .and_then(|t| t.strip_prefix(public_url.trim_end_matches('/')))
        .filter(|path| path.starts_with("/modules/"))
        .unwrap_or("/")
        .to_owned();
    if deep_linking.is_some() && !instructor {
        return Err(rejected(
            "only instructors add activities (deep linking)".to_owned(),
        ));
    }
    if store::by_issuer(pool, &platform.issuer).await?.len() == 1 {
        adopt_issuer_only_identity(pool, &identity.key).await?;
    }
    let frames = frame_ancestors(&platform, sent_from);
    let (token, session) = sign_in_with_identity(pool, hasher, &identity, true, frames).await?;
    if let Some(settings) = &deep_linking {
        let id = deep_link::keep(
            pool,
            session.user.learner_id,
            platform.id,
            deployment,
            settings,
        )
        .await?;
        return Ok(Launched {
            token,
            session,
            target: format!("/lti/deep-link/{id}"),
        });
    }
    tracing::info!(user = %session.user.username, platform = %platform.name, "LTI launch");
    let module = target.strip_prefix("/modules/");
    if let (Some(module), Some(grades)) = (module, lti.grades.as_ref()) {
        let granted = |scope: &str| grades.scope.iter().any(|s| s == scope);
        let foreign = [grades.lineitem.as_deref(), grades.lineitems.as_deref()]
            .into_iter()
            .flatten()
            .find(|url| !on_platform_site(&platform, url));
        if let Some(url) = foreign {
            tracing::warn!(
                platform = %platform.name,
                "LTI: the launch names a grade service at {url}, which is not on the platform's site; no score is sent there"
            );
        } else if let (Some(lineitem), true) = (grades.lineitem.as_deref(), granted(SCORE_SCOPE)) {
            let asks_per_question =
                lti.custom.get(PER_QUESTION.0).and_then(|v| v.as_str()) == Some(PER_QUESTION.1);
            let resource_link_id = lti
                .resource_link
                .as_ref()
                .and_then(|r| r["id"].as_str())
                .map(str::to_owned);
            let per_question = match (grades.lineitems.clone(), resource_link_id) {
                (Some(lineitems), Some(resource_link_id))
                    if asks_per_question && granted(LINEITEM_SCOPE) =>
                {
                    Some(QuestionColumns {
                        lineitems,
                        resource_link_id,
                    })
                }
                _ if asks_per_question => {
                    tracing::warn!(
                        platform = %platform.name,
                        "LTI: the link asks for a grade column per question, but the platform did not grant the line-item scope (or sent no container); only the module's score is sent"
                    );
                    None
                }
                _ => None,
            };
            store::link_grades(
                pool,
                &GradeLink {
                    learner_id: session.user.learner_id,
                    platform_id: platform.id,
                    module_id: module.to_owned(),
                    lineitem: lineitem.to_owned(),
                    user_id: identity.key.subject.clone(),
                    per_question,
                },
            )
            .await?;
        }
    }
    Ok(Launched {
        token,
        session,
        target,
    })
}

/// Whether a platform's address may be used: https, or http on this machine only (for trying
/// Lectern out with a local LMS).
fn is_trusted_web_url(url: &openidconnect::url::Url) -> bool {
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    url.scheme() == "https" && url.has_host() || url.scheme() == "http" && local
}

/// Whether a grade service URL a launch names is on the platform's own site, so that scores and
/// the platform's bearer token go nowhere else: https (or http on this machine), on the host of
/// one of the platform's registered addresses or a sibling of it under the same parent domain
/// (Canvas cloud's issuer is `canvas.instructure.com`, its courses `school.instructure.com`).
fn on_platform_site(platform: &Platform, address: &str) -> bool {
    let Ok(url) = openidconnect::url::Url::parse(address) else {
        return false;
    };
    let Some(host) = url.host_str().filter(|_| is_trusted_web_url(&url)) else {
        return false;
    };
    let parent = |host: &str| -> Option<String> {
        let (_, parent) = host.split_once('.')?;
        // A parent must itself be a site (`instructure.com`), never a public suffix (`com`).
        (parent.contains('.') && parent.parse::<std::net::IpAddr>().is_err())
            .then(|| parent.to_ascii_lowercase())
    };
    [
        &platform.issuer,
        &platform.auth_url,
        &platform.token_url,
        &platform.jwks_url,
    ]
    .into_iter()
    .filter_map(|known| openidconnect::url::Url::parse(known).ok())
    .filter_map(|known| known.host_str().map(str::to_ascii_lowercase))
    .any(|known| {
        known.eq_ignore_ascii_case(host)
            || (parent(&known).is_some() && parent(&known) == parent(host))
    })
}

/// The origins that may frame the session a launch opens: the platform's issuer and authorization
/// endpoint, and the origin the launch was posted from. That last one matters: Canvas's issuer
/// (`canvas.instructure.com`) is not the school's domain whose pages frame the tool, but the school's
/// domain serves the form that posts the launch. It is trusted only with a verified `id_token`, and a
/// page cannot forge its `Origin`. Only https origins count (http on this machine, as for
/// registration); `null` and the like do not.
fn frame_ancestors(platform: &Platform, sent_from: Option<&str>) -> Vec<String> {
    let mut origins: Vec<String> = Vec::new();
    for address in [
        Some(platform.issuer.as_str()),
        Some(platform.auth_url.as_str()),
        sent_from,
    ]
    .into_iter()
    .flatten()
    {
        let Ok(url) = openidconnect::url::Url::parse(address) else {
            continue;
        };
        if !is_trusted_web_url(&url) {
            continue;
        }
        let origin = url.origin().ascii_serialization();
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    origins
}

async fn platform_keys(platform: &Platform) -> Result<CoreJsonWebKeySet, LtiError> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PLATFORM_TIMEOUT)
        .build()
        .unwrap_or_default();
    let url = JsonWebKeySetUrl::new(platform.jwks_url.clone())
        .map_err(|_| LtiError::PlatformUnreachable)?;
    CoreJsonWebKeySet::fetch_async(&url, &http)
        .await
        .map_err(|e| {
            tracing::error!(platform = %platform.name, "LTI: cannot read the platform's JWKS: {e}");
            LtiError::PlatformUnreachable
        })
}

fn rejected(reason: String) -> LtiError {
    tracing::warn!("LTI launch rejected: {reason}");
    LtiError::Rejected(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform(issuer: &str) -> Platform {
        Platform {
            id: 1,
            name: "Canvas".to_owned(),
            issuer: issuer.to_owned(),
            client_id: "10000000000001".to_owned(),
            auth_url: format!("{issuer}/api/lti/authorize_redirect"),
            token_url: "https://sso.canvaslms.com/login/oauth2/token".to_owned(),
            jwks_url: "https://sso.canvaslms.com/api/lti/security/jwks".to_owned(),
            deployment_ids: vec!["1".to_owned()],
        }
    }

    #[test]
    fn grade_services_must_be_on_the_platforms_own_site() {
        let canvas = platform("https://canvas.instructure.com");
        for ok in [
            "https://school.instructure.com/api/lti/courses/1/line_items/2",
            "https://canvas.instructure.com/api/lti/courses/1/line_items",
            "https://sso.canvaslms.com/x",
        ] {
            assert!(on_platform_site(&canvas, ok), "{ok}");
        }
        for refused in [
            "https://evil.example/api/lti/courses/1/line_items/2",
            "http://school.instructure.com/api/lti/courses/1/line_items/2",
            "https://instructure.com.evil.example/x",
            "https://com/x",
            "not a url",
        ] {
            assert!(!on_platform_site(&canvas, refused), "{refused}");
        }
        let moodle = platform("https://moodle.example.org");
        assert!(!on_platform_site(
            &moodle,
            "https://moodle.example.net/mod/lti/services.php"
        ));
    }
}
