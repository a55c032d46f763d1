//! OpenID providers for the single sign-on tests: the independent, OpenID-certified
//! `oidc-provider` (npm, run with Node from `tests/oidc/`), and [`ProviderDouble`], which Lectern's
//! negative cases make misbehave.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lectern::config::{PasswordSignIn, ServeArgs, SsoArgs};

/// The client Lectern is registered as, at both providers.
pub const CLIENT_ID: &str = "lectern";
/// Its secret.
pub const CLIENT_SECRET: &str = "lectern-test-secret";

/// Single sign-on settings for a test portal: groups make roles (`lectern-admins`,
/// `training-staff`) and cohorts (`cohort-…`); accounts are made at first sign-in; passwords only
/// for break-glass accounts.
pub fn sso_config(config: &mut ServeArgs, issuer: &str, secret_file: PathBuf) {
    config.portal = true;
    config.sso = SsoArgs {
        issuer: Some(issuer.to_owned()),
        client_id: Some(CLIENT_ID.to_owned()),
        client_secret_file: Some(secret_file),
        scopes: "openid email profile groups".to_owned(),
        provider_name: "Test IdP".to_owned(),
        groups_claim: "groups".to_owned(),
        admin_groups: vec!["lectern-admins".to_owned()],
        instructor_groups: vec!["training-staff".to_owned()],
        cohort_claim: None,
        cohort_group_prefix: Some("cohort-".to_owned()),
        allowed_domains: Vec::new(),
        create_accounts: true,
        password_sign_in: PasswordSignIn::BreakGlass,
    };
}

/// The client secret in a file, as an operator would give it.
pub fn secret_file(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("client-secret");
    std::fs::write(&path, format!("{CLIENT_SECRET}\n")).unwrap();
    path
}

/// `oidc-provider` running under Node on loopback; stopped on drop.
pub struct NodeProvider {
    child: Child,
    /// Its issuer URL.
    pub issuer: String,
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl NodeProvider {
    /// Starts it on `port` for a client that returns to `redirect`; `None` (the test is skipped
    /// with a message) when Node or the npm packages are missing, except under `CI=true`.
    pub async fn start(port: u16, redirect: &str, after_logout: &str) -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        if !dir.join("node_modules/oidc-provider").exists() {
            let message = "oidc-provider is not installed (npm ci --prefix tests/oidc)";
            assert!(std::env::var("CI").is_err(), "{message}");
            eprintln!("skipping: {message}");
            return None;
        }
        let child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .args([&port.to_string(), redirect, after_logout])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let provider = Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if reqwest::get(&discovery)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Some(provider);
            }
            assert!(Instant::now() < deadline, "oidc-provider did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the [`ProviderDouble`] does wrong, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A well-formed, correctly signed ID token.
    Good,
    /// Signed with a key that is not in its JWKS (same key id).
    BadSignature,
    /// For another client.
    WrongAudience,
    /// Expired a minute ago.
    Expired,
    /// With another nonce than the sign-in's.
    WrongNonce,
    /// `"alg": "none"`, no signature.
    Unsigned,
    /// Without the groups claim.
    NoGroups,
    /// Issued to another client (`azp`), with this one among its audiences.
    ForeignAuthorizedParty,
    /// Signed HS256 with the client secret (as a provider listing HS256 may), not a published key.
    Hmac,
    /// Without `email_verified`.
    UnverifiedEmail,
}

/// Someone the double signs in.
#[derive(Debug, Clone)]
pub struct Person {
    /// `sub`.
    pub subject: String,
    /// `preferred_username`.
    pub username: String,
    /// `email`.
    pub email: String,
    /// `groups`.
    pub groups: Vec<String>,
}

impl Person {
    /// A person with these groups.
    pub fn new(subject: &str, username: &str, groups: &[&str]) -> Self {
        Self {
            subject: subject.to_owned(),
            username: username.to_owned(),
            email: format!("{username}@example.org"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
}

/// An OpenID provider double in the style of the Kubernetes API double: real RS256 keys and JWKS,
/// a token endpoint that checks the client's credentials and the PKCE verifier, and a [`Mode`]
/// that makes its ID tokens wrong in one way. Keys can be rotated.
pub struct ProviderDouble {
    /// Its issuer URL.
    pub issuer: String,
    state: std::sync::Arc<DoubleState>,
    _server: tokio::task::JoinHandle<()>,
}

struct DoubleState {
    issuer: String,
    mode: std::sync::Mutex<Mode>,
    person: std::sync::Mutex<Person>,
    /// Which of the two keys signs and is published.
    key: std::sync::atomic::AtomicUsize,
    /// Authorization codes issued: code → (nonce, PKCE challenge, person).
    codes: std::sync::Mutex<std::collections::HashMap<String, (String, String, Person)>>,
    /// How many times the JWKS was read.
    jwks_reads: std::sync::atomic::AtomicUsize,
}

const KEYS: [&str; 2] = [
    include_str!("oidc_key_1.pem"),
    include_str!("oidc_key_2.pem"),
];

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ExtraClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<String>>,
}

impl openidconnect::AdditionalClaims for ExtraClaims {}

fn signing_key(index: usize) -> openidconnect::core::CoreRsaPrivateSigningKey {
    openidconnect::core::CoreRsaPrivateSigningKey::from_pem(
        KEYS[index],
        Some(openidconnect::JsonWebKeyId::new(format!(
            "key-{}",
            index + 1
        ))),
    )
    .expect("the test key parses")
}

impl ProviderDouble {
    /// Starts it on a free loopback port, signing `person` in.
    pub async fn start(person: Person) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(DoubleState {
            issuer: issuer.clone(),
            mode: std::sync::Mutex::new(Mode::Good),
            person: std::sync::Mutex::new(person),
            key: std::sync::atomic::AtomicUsize::new(0),
            codes: std::sync::Mutex::new(std::collections::HashMap::new()),
            jwks_reads: std::sync::atomic::AtomicUsize::new(0),
        });
        let router = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(discovery),
            )
            .route("/jwks", axum::routing::get(jwks))
            .route("/authorize", axum::routing::get(authorize))
            .route("/token", axum::routing::post(token))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Self {
            issuer,
            state,
            _server: server,
        }
    }

    /// From now on, ID tokens are wrong this way.
    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// From now on, this person signs in.
    pub fn set_person(&self, person: Person) {
        *self.state.person.lock().unwrap() = person;
    }

    /// Signs with the second key and publishes only it, as a provider rotating its keys does.
    pub fn rotate_keys(&self) {
        self.state.key.store(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many times the JWKS was read.
    pub fn jwks_reads(&self) -> usize {
        self.state
            .jwks_reads
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

type DoubleArc = axum::extract::State<std::sync::Arc<DoubleState>>;

async fn discovery(axum::extract::State(state): DoubleArc) -> axum::Json<serde_json::Value> {
    let issuer = &state.issuer;
    axum::Json(serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        // Keycloak's discovery lists HMAC too: a client must not take that as leave to accept it.
        "id_token_signing_alg_values_supported": ["RS256", "HS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(axum::extract::State(state): DoubleArc) -> axum::Json<serde_json::Value> {
    use openidconnect::PrivateSigningKey;
    state
        .jwks_reads
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let key = signing_key(state.key.load(std::sync::atomic::Ordering::SeqCst));
    let set = openidconnect::core::CoreJsonWebKeySet::new(vec![key.as_verification_key()]);
    axum::Json(serde_json::to_value(set).unwrap())
}

async fn authorize(
    axum::extract::State(state): DoubleArc,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let code = format!("code-{}", state.codes.lock().unwrap().len() + 1);
    let person = state.person.lock().unwrap().clone();
    state.codes.lock().unwrap().insert(
        code.clone(),
        (
            query.get("nonce").cloned().unwrap_or_default(),
            query.get("code_challenge").cloned().unwrap_or_default(),
            person,
        ),
    );
    let mut back = url::Url::parse(&query["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", query.get("state").map_or("", String::as_str));
    axum::response::Redirect::to(back.as_str()).into_response()
}

async fn token(
    axum::extract::State(state): DoubleArc,
    headers: axum::http::HeaderMap,
    axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use base64::Engine;
    use openidconnect::core::CoreJwsSigningAlgorithm;
    use sha2::Digest;
    let refuse = |error: &str| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error": error })),
        )
            .into_response()
    };
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Basic {basic}"));
    if !authorized {
        return refuse("invalid_client");
    }
    let Some((nonce, challenge, person)) = form
        .get("code")
        .and_then(|c| state.codes.lock().unwrap().remove(c))
    else {
        return refuse("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != challenge {
        return refuse("invalid_grant");
    }
    let mode = *state.mode.lock().unwrap();
    let now = chrono::Utc::now();
    let (issued, expires) = match mode {
        Mode::Expired => (
            now - chrono::Duration::hours(1),
            now - chrono::Duration::minutes(1),
        ),
        _ => (now, now + chrono::Duration::minutes(5)),
    };
    let audience = match mode {
        Mode::WrongAudience => "someone-else",
        _ => CLIENT_ID,
    };
    let standard = openidconnect::StandardClaims::new(openidconnect::SubjectIdentifier::new(
        person.subject.clone(),
    ))
    .set_preferred_username(Some(openidconnect::EndUserUsername::new(
        person.username.clone(),
    )))
    .set_email(Some(openidconnect::EndUserEmail::new(person.email.clone())))
    .set_email_verified((mode != Mode::UnverifiedEmail).then_some(true));
    let mut audiences = vec![openidconnect::Audience::new(audience.to_owned())];
    if mode == Mode::ForeignAuthorizedParty {
        audiences.push(openidconnect::Audience::new("another-client".to_owned()));
    }
    let claims = openidconnect::IdTokenClaims::new(
        openidconnect::IssuerUrl::new(state.issuer.clone()).unwrap(),
        audiences,
        expires,
        issued,
        standard,
        ExtraClaims {
            groups: (mode != Mode::NoGroups).then(|| person.groups.clone()),
        },
    )
    .set_nonce(Some(openidconnect::Nonce::new(match mode {
        Mode::WrongNonce => "another-nonce".to_owned(),
        _ => nonce,
    })))
    .set_authorized_party(
        (mode == Mode::ForeignAuthorizedParty)
            .then(|| openidconnect::ClientId::new("another-client".to_owned())),
    );
    let key_index = state.key.load(std::sync::atomic::Ordering::SeqCst);
    let id_token = match mode {
        Mode::Unsigned => {
            let part = |v: serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            format!(
                "{}.{}.",
                part(serde_json::json!({ "alg": "none", "typ": "JWT" })),
                part(serde_json::to_value(&claims).unwrap())
            )
        }
        Mode::Hmac => signed(
            claims,
            &openidconnect::core::CoreHmacKey::new(CLIENT_SECRET.as_bytes()),
            CoreJwsSigningAlgorithm::HmacSha256,
        ),
        _ => {
            let signer = match mode {
                // The other key, under the published key's id: a forged signature.
                Mode::BadSignature => openidconnect::core::CoreRsaPrivateSigningKey::from_pem(
                    KEYS[1 - key_index],
                    Some(openidconnect::JsonWebKeyId::new(format!(
                        "key-{}",
                        key_index + 1
                    ))),
                )
                .unwrap(),
                _ => signing_key(key_index),
            };
            signed(
                claims,
                &signer,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            )
        }
    };
    axum::Json(serde_json::json!({
        "access_token": "an-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

/// An ID token with `claims`, signed by `signer` with `algorithm`.
fn signed(
    claims: openidconnect::IdTokenClaims<ExtraClaims, openidconnect::core::CoreGenderClaim>,
    signer: &impl openidconnect::PrivateSigningKey<
        VerificationKey = openidconnect::core::CoreJsonWebKey,
    >,
    algorithm: openidconnect::core::CoreJwsSigningAlgorithm,
) -> String {
    use openidconnect::core::{
        CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    };
    openidconnect::IdToken::<
        ExtraClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(claims, signer, algorithm, None, None)
    .unwrap()
    .to_string()
}
