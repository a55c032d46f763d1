//! A learning platform double for LTI 1.3 launches, in the style of the Kubernetes API double:
//! real RS256 keys published as a JWKS over HTTP, and launch ID tokens built as Moodle or Canvas
//! build them, which a [`Launch`] can make wrong in one way.

use std::time::Duration;

use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};

const SCORE_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/score";
const LINEITEM_SCOPE: &str = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem";

/// Lectern's client id at the platform.
pub const TOOL_CLIENT_ID: &str = "lectern-tool";
/// The deployment registered with Lectern.
pub const DEPLOYMENT: &str = "deployment-1";

const KEYS: [&str; 2] = [
    include_str!("oidc_key_1.pem"),
    include_str!("oidc_key_2.pem"),
];

/// A platform: its issuer URL and JWKS, a token endpoint that checks Lectern's signed client
/// assertion against Lectern's JWKS, and a line item that records every score it receives.
pub struct PlatformDouble {
    /// `iss` of its launches, and the base of its URLs.
    pub issuer: String,
    state: std::sync::Arc<Recorded>,
    _server: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Recorded {
    /// Where Lectern's keys are (set once Lectern runs).
    tool_jwks: std::sync::Mutex<String>,
    /// Answer 503 to everything grade-related.
    down: std::sync::atomic::AtomicBool,
    /// Access tokens valid now, with their scopes.
    tokens: std::sync::Mutex<Vec<(String, String)>>,
    /// How many access tokens were ever issued.
    issued: std::sync::atomic::AtomicUsize,
    /// Every score posted, in order, with the number of its line item.
    scores: std::sync::Mutex<Vec<(usize, serde_json::Value)>>,
    /// Line items the tool made (item `n` is at index `n - 2`: item 1 is the activity's own).
    lineitems: std::sync::Mutex<Vec<serde_json::Value>>,
    /// The course page's activity: the tool's base URL and the launch the platform signs for the
    /// browser that opens it.
    activity: std::sync::Mutex<Option<(String, Launch)>>,
}

fn key(index: usize) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(
        KEYS[index],
        Some(openidconnect::JsonWebKeyId::new("platform-key".to_owned())),
    )
    .unwrap()
}

impl PlatformDouble {
    /// Starts it; only the first key is published.
    pub async fn start() -> Self {
        use openidconnect::PrivateSigningKey;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let jwks = serde_json::to_value(openidconnect::core::CoreJsonWebKeySet::new(vec![
            key(0).as_verification_key(),
        ]))
        .unwrap();
        let state = std::sync::Arc::new(Recorded::default());
        let router = axum::Router::new()
            .route(
                "/jwks",
                axum::routing::get(move || {
                    let jwks = jwks.clone();
                    async move { axum::Json(jwks) }
                }),
            )
            .route("/token", axum::routing::post(token))
            .route(
                "/lineitems",
                axum::routing::get(list_lineitems).post(make_lineitem),
            )
            .route("/lineitems/{n}/scores", axum::routing::post(score))
            .route("/course", axum::routing::get(course_page))
            .route("/auth", axum::routing::get(authorize_redirect))
            .route("/authorize", axum::routing::get(authorize))
            .with_state((state.clone(), issuer.clone()));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Self {
            issuer,
            state,
            _server: server,
        }
    }

    /// Trusts the tool keys published at `jwks_url` (Lectern's `/lti/jwks`).
    pub fn trust_tool(&self, jwks_url: &str) {
        *self.state.tool_jwks.lock().unwrap() = jwks_url.to_owned();
    }

    /// Puts the tool on the course page (`/course`): an iframe that starts a launch at
    /// `tool_url`, which the platform signs as `launch` for whoever opens the page.
    pub fn add_activity(&self, tool_url: &str, launch: Launch) {
        *self.state.activity.lock().unwrap() = Some((tool_url.to_owned(), launch));
    }

    /// The course page as the school's own domain serves it: `localhost`, another site than the
    /// issuer's `127.0.0.1` (as Canvas's school domains are not `canvas.instructure.com`).
    pub fn course_page(&self) -> String {
        format!("{}/course", school(&self.issuer))
    }

    /// Makes the grade services answer 503 (or work again).
    pub fn set_down(&self, down: bool) {
        self.state
            .down
            .store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many access tokens the token endpoint has issued.
    pub fn tokens_issued(&self) -> usize {
        self.state.issued.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Revokes every access token issued so far (as a platform does when its admin rotates keys).
    pub fn revoke_tokens(&self) {
        self.state.tokens.lock().unwrap().clear();
    }

    /// The scores the activity's own line item received so far.
    pub fn scores(&self) -> Vec<serde_json::Value> {
        self.scores_on(1)
    }

    /// The scores line item `n` received so far.
    pub fn scores_on(&self, n: usize) -> Vec<serde_json::Value> {
        let scores = self.state.scores.lock().unwrap();
        scores
            .iter()
            .filter(|(item, _)| *item == n)
            .map(|(_, score)| score.clone())
            .collect()
    }

    /// The line items the tool made, in order (the first is line item 2).
    pub fn made_lineitems(&self) -> Vec<serde_json::Value> {
        self.state.lineitems.lock().unwrap().clone()
    }

    /// The line item launches name.
    pub fn lineitem(&self) -> String {
        format!("{}/lineitems/1", self.issuer)
    }

    /// The course's line-item container (with a query, as Moodle's has).
    pub fn lineitems(&self) -> String {
        format!("{}/lineitems?type_id=2", self.issuer)
    }

    /// The registration form an admin fills in for it.
    pub fn registration(&self) -> Vec<(&'static str, String)> {
        vec![
            ("name", "Moodle".to_owned()),
            ("issuer", self.issuer.clone()),
            ("client_id", TOOL_CLIENT_ID.to_owned()),
            ("auth_url", format!("{}/auth", self.issuer)),
            ("token_url", format!("{}/token", self.issuer)),
            ("jwks_url", format!("{}/jwks", self.issuer)),
            ("deployment_ids", DEPLOYMENT.to_owned()),
        ]
    }
}

/// An admin (`root`, created here) registers `platform` on the LTI page; answers the response.
pub async fn register(app: &super::TestApp, platform: &PlatformDouble) -> reqwest::Response {
    app.add_account("root", lectern::auth::Role::Admin, None)
        .await;
    let mut root = super::browser::Browser::new(app);
    root.sign_in_as("root", super::PASSWORD).await;
    register_as(&root, platform).await
}

/// `admin` fills in the registration form for `platform`; answers the response.
pub async fn register_as(
    admin: &super::browser::Browser<'_>,
    platform: &PlatformDouble,
) -> reqwest::Response {
    let mut form: Vec<(&str, String)> = vec![("csrf", admin.csrf().await)];
    form.extend(platform.registration());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    admin.post_form("/admin/lti", &form).await
}

/// One launch, as the platform signs it; change a field to make it wrong.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The person's `sub`.
    pub subject: String,
    /// Their name at the platform.
    pub username: String,
    /// LTI roles.
    pub roles: Vec<String>,
    /// The course (id, label).
    pub context: (String, String),
    /// Where the link points.
    pub target: String,
    /// `aud`.
    pub audience: String,
    /// Another client in `aud` besides `audience`, if any.
    pub other_audience: Option<String>,
    /// `azp`, if any.
    pub authorized_party: Option<String>,
    /// Deployment id claim.
    pub deployment: String,
    /// LTI version claim.
    pub version: String,
    /// Message type claim.
    pub message_type: String,
    /// Seconds from now until it expires (negative: expired).
    pub expires_in: i64,
    /// Signed with the key the platform does not publish.
    pub forged: bool,
    /// The line item its scores go to (Assignment and Grade Services), if any.
    pub lineitem: Option<String>,
    /// The course's line-item container and the line-item scope, if granted.
    pub lineitems: Option<String>,
    /// The link's custom parameters.
    pub custom: serde_json::Value,
    /// A deep-linking request instead of a launch: where the answer goes.
    pub deep_link_return: Option<String>,
}

impl Launch {
    /// A learner's launch of `target` from the course `NET-101`.
    pub fn learner(subject: &str, username: &str, target: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            username: username.to_owned(),
            roles: vec!["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner".to_owned()],
            context: ("course-42".to_owned(), "NET-101".to_owned()),
            target: target.to_owned(),
            audience: TOOL_CLIENT_ID.to_owned(),
            other_audience: None,
            authorized_party: None,
            deployment: DEPLOYMENT.to_owned(),
            version: "1.3.0".to_owned(),
            message_type: "LtiResourceLinkRequest".to_owned(),
            expires_in: 300,
            forged: false,
            lineitem: None,
            lineitems: None,
            custom: serde_json::json!({}),
            deep_link_return: None,
        }
    }

    /// The signed `id_token` for a launch whose login had this `nonce`.
    pub fn id_token(&self, platform: &PlatformDouble, nonce: &str) -> String {
        self.signed(&platform.issuer, nonce)
    }

    fn signed(&self, issuer: &str, nonce: &str) -> String {
        let now = chrono::Utc::now();
        let expires = now + chrono::Duration::seconds(self.expires_in);
        let issued = if self.expires_in < 0 {
            expires - chrono::Duration::from_std(Duration::from_secs(600)).unwrap()
        } else {
            now
        };
        let claims = openidconnect::IdTokenClaims::new(
            openidconnect::IssuerUrl::new(issuer.to_owned()).unwrap(),
            std::iter::once(&self.audience)
                .chain(&self.other_audience)
                .map(|a| openidconnect::Audience::new(a.clone()))
                .collect(),
            expires,
            issued,
            openidconnect::StandardClaims::new(openidconnect::SubjectIdentifier::new(
                self.subject.clone(),
            ))
            .set_preferred_username(Some(openidconnect::EndUserUsername::new(
                self.username.clone(),
            ))),
            LaunchClaims(serde_json::json!({
                "https://purl.imsglobal.org/spec/lti/claim/message_type": self.message_type,
                "https://purl.imsglobal.org/spec/lti/claim/version": self.version,
                "https://purl.imsglobal.org/spec/lti/claim/deployment_id": self.deployment,
                "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": self.target,
                "https://purl.imsglobal.org/spec/lti/claim/roles": self.roles,
                "https://purl.imsglobal.org/spec/lti/claim/resource_link": { "id": "link-7", "title": "Module 01" },
                "https://purl.imsglobal.org/spec/lti/claim/context": {
                    "id": self.context.0, "label": self.context.1, "title": "Networking 101",
                },
                "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": self.deep_link_return.as_ref().map(|url| serde_json::json!({
                    "deep_link_return_url": url,
                    "accept_types": ["link", "ltiResourceLink"],
                    "accept_presentation_document_targets": ["iframe", "window"],
                    "data": "opaque-42",
                })),
                "https://purl.imsglobal.org/spec/lti/claim/custom": self.custom,
                "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint": self.lineitem.as_ref().map(|l| {
                    let mut scope = vec![SCORE_SCOPE];
                    if self.lineitems.is_some() {
                        scope.push(LINEITEM_SCOPE);
                    }
                    serde_json::json!({ "scope": scope, "lineitem": l, "lineitems": self.lineitems })
                }),
            })),
        )
        .set_nonce(Some(openidconnect::Nonce::new(nonce.to_owned())))
        .set_authorized_party(
            self.authorized_party
                .clone()
                .map(openidconnect::ClientId::new),
        );
        openidconnect::IdToken::<
            LaunchClaims,
            CoreGenderClaim,
            CoreJweContentEncryptionAlgorithm,
            CoreJwsSigningAlgorithm,
        >::new(
            claims,
            &key(usize::from(self.forged)),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
        .to_string()
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct LaunchClaims(serde_json::Value);

impl openidconnect::AdditionalClaims for LaunchClaims {}

type DoubleState = axum::extract::State<(std::sync::Arc<Recorded>, String)>;

/// The school's domain for an issuer on `127.0.0.1`: the same double, reached as `localhost`.
fn school(issuer: &str) -> String {
    issuer.replace("127.0.0.1", "localhost")
}

/// `/course`: a course page with the activity in an iframe, which starts the launch with a
/// third-party-initiated login (a GET to the tool's login URL).
async fn course_page(
    axum::extract::State((state, issuer)): DoubleState,
) -> axum::response::Html<String> {
    let activity = state.activity.lock().unwrap().clone();
    let Some((tool, launch)) = activity else {
        return axum::response::Html("<p>No activity in this course.</p>".to_owned());
    };
    let mut login = url::Url::parse(&format!("{tool}/lti/login")).unwrap();
    login
        .query_pairs_mut()
        .append_pair("iss", &issuer)
        .append_pair("login_hint", &launch.subject)
        .append_pair("target_link_uri", &launch.target)
        .append_pair("client_id", TOOL_CLIENT_ID)
        .append_pair("lti_deployment_id", DEPLOYMENT);
    axum::response::Html(format!(
        "<!doctype html><html lang=\"en\"><title>NET-101</title><h1>Networking 101</h1>\
         <iframe id=\"activity\" title=\"Lectern\" src=\"{}\" width=\"1200\" height=\"800\" \
         allow=\"clipboard-write\"></iframe></html>",
        html_escape(login.as_str())
    ))
}

/// `/auth`, the registered authorization URL: sends the browser on to the school's domain, as
/// Canvas's `authorize_redirect` does.
async fn authorize_redirect(
    axum::extract::State((_, issuer)): DoubleState,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Redirect {
    axum::response::Redirect::to(&format!(
        "{}/authorize?{}",
        school(&issuer),
        query.unwrap_or_default()
    ))
}

/// `/authorize`: the authentication response, a form that posts the signed launch to the tool's
/// `redirect_uri` as soon as it loads (`response_mode=form_post`).
async fn authorize(
    axum::extract::State((state, issuer)): DoubleState,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let activity = state.activity.lock().unwrap().clone();
    let (Some((tool, launch)), Some(nonce), Some(state), Some(redirect)) = (
        activity,
        query.get("nonce"),
        query.get("state"),
        query.get("redirect_uri"),
    ) else {
        return (axum::http::StatusCode::BAD_REQUEST, "invalid_request").into_response();
    };
    if *redirect != format!("{tool}/lti/launch") || query.get("login_hint") != Some(&launch.subject)
    {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            "invalid redirect_uri or login_hint",
        )
            .into_response();
    }
    let id_token = launch.signed(&issuer, nonce);
    axum::response::Html(format!(
        "<!doctype html><html lang=\"en\"><title>Launching</title>\
         <form method=\"post\" action=\"{}\">\
         <input type=\"hidden\" name=\"id_token\" value=\"{}\">\
         <input type=\"hidden\" name=\"state\" value=\"{}\"></form>\
         <script>document.forms[0].submit()</script></html>",
        html_escape(redirect),
        html_escape(&id_token),
        html_escape(state)
    ))
    .into_response()
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The token endpoint: a client-credentials grant whose client assertion must be signed by one of
/// Lectern's published keys, for this platform's token URL, not expired.
async fn token(
    axum::extract::State((state, issuer)): DoubleState,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let refuse = |status: u16, why: &str| {
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            axum::Json(serde_json::json!({ "error": why })),
        )
            .into_response()
    };
    if state.down.load(std::sync::atomic::Ordering::SeqCst) {
        return refuse(503, "down");
    }
    let scope = form.get("scope").cloned().unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials")
        || form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        || !scopes.contains(&SCORE_SCOPE)
        || scopes
            .iter()
            .any(|s| *s != SCORE_SCOPE && *s != LINEITEM_SCOPE)
    {
        return refuse(400, "invalid_request");
    }
    let assertion = form.get("client_assertion").cloned().unwrap_or_default();
    let jwks_url = state.tool_jwks.lock().unwrap().clone();
    let Some(claims) = verified_by_tool(&assertion, &jwks_url).await else {
        return refuse(401, "invalid_client");
    };
    let now = chrono::Utc::now().timestamp();
    let valid = claims["iss"] == TOOL_CLIENT_ID
        && claims["sub"] == TOOL_CLIENT_ID
        && claims["aud"] == format!("{issuer}/token").as_str()
        && claims["exp"].as_i64().is_some_and(|exp| exp > now)
        && claims["jti"].as_str().is_some_and(|j| !j.is_empty());
    if !valid {
        return refuse(401, "invalid_client");
    }
    let n = state
        .issued
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let issued = format!("token-{}", n + 1);
    state
        .tokens
        .lock()
        .unwrap()
        .push((issued.clone(), scope.clone()));
    axum::Json(serde_json::json!({
        "access_token": issued, "token_type": "Bearer", "expires_in": 3600, "scope": scope,
    }))
    .into_response()
}

/// Whether the request carries an issued token granted `scope`.
fn authorized(state: &Recorded, headers: &axum::http::HeaderMap, scope: &str) -> bool {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    state
        .tokens
        .lock()
        .unwrap()
        .iter()
        .any(|(token, scopes)| token == bearer && scopes.split(' ').any(|s| s == scope))
}

/// A line item's scores endpoint: records what an issued token posts.
async fn score(
    axum::extract::State((state, _)): DoubleState,
    axum::extract::Path(n): axum::extract::Path<usize>,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    if state.down.load(std::sync::atomic::Ordering::SeqCst) {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    if !authorized(&state, &headers, SCORE_SCOPE)
        || content_type != Some("application/vnd.ims.lis.v1.score+json")
    {
        return axum::http::StatusCode::UNAUTHORIZED;
    }
    if n != 1 && n - 2 >= state.lineitems.lock().unwrap().len() {
        return axum::http::StatusCode::NOT_FOUND;
    }
    let Ok(score) = serde_json::from_str(&body) else {
        return axum::http::StatusCode::BAD_REQUEST;
    };
    state.scores.lock().unwrap().push((n, score));
    axum::http::StatusCode::OK
}

/// `GET /lineitems`: the container, filtered by `resource_link_id`, `resource_id` and `tag` as
/// AGS defines them; `type_id` is this platform's own parameter and must stay.
async fn list_lineitems(
    axum::extract::State((state, _)): DoubleState,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !authorized(&state, &headers, LINEITEM_SCOPE) {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    if query.get("type_id").map(String::as_str) != Some("2") {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    let items: Vec<serde_json::Value> = state
        .lineitems
        .lock()
        .unwrap()
        .iter()
        .filter(|item| {
            [
                ("resource_link_id", "resourceLinkId"),
                ("resource_id", "resourceId"),
                ("tag", "tag"),
            ]
            .iter()
            .all(|(param, field)| {
                query
                    .get(*param)
                    .is_none_or(|wanted| item[*field] == wanted.as_str())
            })
        })
        .cloned()
        .collect();
    (
        [(
            "content-type",
            "application/vnd.ims.lis.v2.lineitemcontainer+json",
        )],
        serde_json::to_string(&items).unwrap(),
    )
        .into_response()
}

/// `POST /lineitems`: makes a line item, as AGS defines it (`scoreMaximum` above 0, a label).
async fn make_lineitem(
    axum::extract::State((state, issuer)): DoubleState,
    headers: axum::http::HeaderMap,
    body: String,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.down.load(std::sync::atomic::Ordering::SeqCst) {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
    if !authorized(&state, &headers, LINEITEM_SCOPE)
        || content_type != Some("application/vnd.ims.lis.v2.lineitem+json")
    {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(mut item) = serde_json::from_str::<serde_json::Value>(&body) else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    if !item["scoreMaximum"].as_f64().is_some_and(|m| m > 0.0)
        || item["label"].as_str().is_none_or(str::is_empty)
    {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    }
    let mut items = state.lineitems.lock().unwrap();
    item["id"] = format!("{issuer}/lineitems/{}", items.len() + 2).into();
    items.push(item.clone());
    (
        axum::http::StatusCode::CREATED,
        [("content-type", "application/vnd.ims.lis.v2.lineitem+json")],
        item.to_string(),
    )
        .into_response()
}

/// The claims of a JWT Lectern signed, after checking its signature against Lectern's published
/// keys (`jwks_url`); `None` if it does not verify.
pub async fn verified_by_tool(jwt: &str, jwks_url: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    use openidconnect::JsonWebKey;
    let parts: Vec<&str> = jwt.split('.').collect();
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap_or_default()
    };
    let header: serde_json::Value = serde_json::from_slice(&decode(parts.first()?)).ok()?;
    let signature = decode(parts.get(2)?);
    let keys: openidconnect::core::CoreJsonWebKeySet =
        reqwest::get(jwks_url).await.ok()?.json().await.ok()?;
    let signed = keys.keys().iter().any(|key| {
        key.key_id().map(|k| k.as_str()) == header["kid"].as_str()
            && key
                .verify_signature(
                    &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                    format!("{}.{}", parts[0], parts[1]).as_bytes(),
                    &signature,
                )
                .is_ok()
    });
    signed.then(|| serde_json::from_slice(&decode(parts[1])).ok())?
}
