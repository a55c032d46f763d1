//! Single sign-on through an OpenID Connect provider (Keycloak, Entra ID, Okta, Google, GitLab,
//! Dex…): the authorization code flow with PKCE, via the `openidconnect` crate.
//!
//! `begin` keeps the state (as its hash), nonce and PKCE verifier server-side and single-use, and
//! the state also in a cookie of the browser that began, so a sign-in cannot be finished in
//! another browser. `finish` exchanges the code, verifies the ID token against the provider's JWKS
//! (signature, `iss`, `aud`, `exp`, `nonce`; on an unknown key it reads the JWKS again once, for
//! key rotation), maps the claims to a role and cohort, and signs in the account linked to
//! (issuer, subject) through [`crate::auth::identity`]. Every refusal is an [`SsoError`] whose message is
//! safe to show; the cause goes to the log.

mod store;

use std::time::Duration;

use base64::Engine;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope, SignatureVerificationError,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use sqlx::AnyPool;
use tokio::sync::RwLock;

use crate::auth::IdentityKey;
use crate::auth::identity::{ProviderIdentity, sign_in_with_identity};
use crate::auth::{AuthError, Hasher, Role, Session};
use crate::secrets::token_hash;

/// How long a begun sign-in may take at the provider.
const LOGIN_LIFETIME_SECS: i64 = 600;

/// How long Lectern waits for the provider (discovery, JWKS, token exchange).
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// How single sign-on is set up (from `lectern serve`'s flags). Not `Debug`: it holds the secret.
#[derive(Clone)]
pub struct Settings {
    /// The provider's issuer URL.
    pub issuer: String,
    /// Lectern's client id there.
    pub client_id: String,
    /// Lectern's client secret there (read from a file or the environment).
    pub client_secret: Option<String>,
    /// Where the provider sends people back: `<public URL>/sign-in/oidc/callback`.
    pub redirect_url: String,
    /// Where the provider's logout sends people back: `<public URL>/sign-in`.
    pub after_logout_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// "Sign in with <name>".
    pub provider_name: String,
    /// The claim listing groups.
    pub groups_claim: String,
    /// Groups that make admins.
    pub admin_groups: Vec<String>,
    /// Groups that make instructors.
    pub instructor_groups: Vec<String>,
    /// A claim holding the cohort.
    pub cohort_claim: Option<String>,
    /// Or the prefix of a group naming the cohort.
    pub cohort_group_prefix: Option<String>,
    /// E-mail domains allowed in (empty: any).
    pub allowed_domains: Vec<String>,
    /// Create accounts at first sign-in.
    pub create_accounts: bool,
}

/// Why a single sign-on failed; the message is for the person, the log gets the details.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider could not be reached or answered nonsense.
    #[error(
        "the sign-in service ({0}) cannot be reached right now; try again in a minute, or tell an admin of this portal"
    )]
    ProviderUnreachable(String),
    /// The state is unknown, used already, expired, or from another browser.
    #[error("this sign-in link has expired or was already used: start again from the sign-in page")]
    BadState,
    /// The provider said no (the person cancelled, or is not allowed to use Lectern there).
    #[error("the sign-in service did not sign you in ({0}); start again from the sign-in page")]
    Denied(String),
    /// The ID token failed a check (signature, issuer, audience, expiry, nonce).
    #[error(
        "the answer from the sign-in service could not be trusted, so you are not signed in; tell an admin of this portal if this happens again"
    )]
    TokenRejected(String),
    /// Role mapping is configured, but the token has no groups claim.
    #[error(
        "the sign-in service did not say which groups you are in (no `{0}` claim), so Lectern cannot tell your role; an admin must add that claim to Lectern's client at the provider"
    )]
    GroupClaimMissing(String),
    /// Only some e-mail domains may enter.
    #[error("accounts of {0} cannot sign in to this portal")]
    DomainNotAllowed(String),
    /// The account side refused (deactivated, not provisioned).
    #[error(transparent)]
    Account(#[from] AuthError),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// The part of the discovery document Lectern reads beyond the core: RP-initiated logout.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LogoutMetadata {
    end_session_endpoint: Option<openidconnect::url::Url>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The provider as discovered, and a client for it.
struct Provider {
    client: Client,
    logout: Option<openidconnect::url::Url>,
}

/// Single sign-on for a running server: the settings and the provider's discovered metadata
/// (read at start, again when it was unreachable, and again when a token names an unknown key).
pub struct Sso {
    settings: Settings,
    http: reqwest::Client,
    provider: RwLock<Option<Provider>>,
}

/// What a sign-in URL begins: the provider's address to send the browser to, and the state to keep
/// in the browser's cookie.
pub struct Begun {
    /// Where to send the browser.
    pub authorize_url: String,
    /// The value for the browser's sign-in cookie.
    pub state: String,
}

/// The provider's answer at the callback, as query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state `begin` made.
    pub state: Option<String>,
    /// An OAuth error code (`access_denied`…).
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

/// A finished sign-in: the session, and where to go next.
pub struct SignedIn {
    /// The session cookie's token.
    pub token: String,
    /// The session.
    pub session: Session,
    /// Where the person was going.
    pub next: String,
}

impl std::fmt::Debug for Sso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sso")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl Sso {
    /// Single sign-on with `settings`; reads the provider's discovery document now, and if it
    /// cannot, logs why and tries again at the first sign-in.
    pub async fn start(settings: Settings) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .unwrap_or_default();
        let sso = Sso {
            settings,
            http,
            provider: RwLock::new(None),
        };
        match sso.discover().await {
            Ok(provider) => {
                tracing::info!(issuer = %sso.settings.issuer, "single sign-on: provider discovered");
                *sso.provider.write().await = Some(provider);
            }
            Err(e) => tracing::warn!(
                issuer = %sso.settings.issuer,
                "single sign-on: {e:#}; will try again at the first sign-in"
            ),
        }
        sso
    }

    /// The provider's issuer URL: the first half of every identity linked through it.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The name on the sign-in button.
    pub fn provider_name(&self) -> &str {
        &self.settings.provider_name
    }

    async fn discover(&self) -> Result<Provider, SsoError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            tracing::error!(issuer = %self.settings.issuer, "single sign-on: discovery failed: {e}");
            SsoError::ProviderUnreachable(self.settings.issuer.clone())
        };
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|e| unreachable(&e))?;
        let metadata = Metadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| unreachable(&error_chain(&e)))?;
        let logout = metadata.additional_metadata().end_session_endpoint.clone();
        let redirect =
            RedirectUrl::new(self.settings.redirect_url.clone()).map_err(|e| unreachable(&e))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(redirect);
        Ok(Provider { client, logout })
    }

    /// Makes sure the provider is known, discovering it again when `refresh` or never discovered.
    async fn ensure(&self, refresh: bool) -> Result<(), SsoError> {
        if refresh || self.provider.read().await.is_none() {
            let provider = self.discover().await?;
            *self.provider.write().await = Some(provider);
        }
        Ok(())
    }

    /// Starts a sign-in that returns to `next`.
    pub async fn begin(&self, pool: &AnyPool, next: &str) -> Result<Begun, SsoError> {
        self.ensure(false).await?;
        let guard = self.provider.read().await;
        let Some(provider) = guard.as_ref() else {
            return Err(SsoError::ProviderUnreachable(self.settings.issuer.clone()));
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        store::insert(
            pool,
            &token_hash(state.secret()),
            &store::PendingLogin {
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                next: next.to_owned(),
                created_at: crate::clock::unix_seconds(),
            },
        )
        .await?;
        Ok(Begun {
            authorize_url: url.to_string(),
            state: state.secret().clone(),
        })
    }

    /// Finishes a sign-in at the callback; `browser_state` is the state in the browser's cookie.
    pub async fn finish(
        &self,
        pool: &AnyPool,
        hasher: &Hasher,
        callback: &Callback,
        browser_state: Option<&str>,
    ) -> Result<SignedIn, SsoError> {
        let state = callback.state.as_deref().unwrap_or_default();
        if state.is_empty() || browser_state != Some(state) {
            tracing::warn!("single sign-on: the callback's state is missing or not this browser's");
            return Err(SsoError::BadState);
        }
        let Some(login) = store::take(pool, &token_hash(state)).await? else {
            tracing::warn!("single sign-on: unknown or already used state (a replay?)");
            return Err(SsoError::BadState);
        };
        if crate::clock::unix_seconds() - login.created_at > LOGIN_LIFETIME_SECS {
            return Err(SsoError::BadState);
        }
        if let Some(error) = &callback.error {
            let description = callback.error_description.as_deref().unwrap_or_default();
            tracing::warn!("single sign-on: the provider answered {error}: {description}");
            return Err(SsoError::Denied(error.chars().take(64).collect()));
        }
        let Some(code) = callback.code.clone() else {
            return Err(SsoError::Denied("no authorization code".to_owned()));
        };
        self.ensure(false).await?;
        let id_token = {
            let guard = self.provider.read().await;
            let Some(provider) = guard.as_ref() else {
                return Err(SsoError::ProviderUnreachable(self.settings.issuer.clone()));
            };
            let request = provider
                .client
                .exchange_code(AuthorizationCode::new(code))
                .map_err(|e| rejected(format!("no token endpoint: {e}")))?
                .set_pkce_verifier(PkceCodeVerifier::new(login.pkce_verifier.clone()));
            let response = request.request_async(&self.http).await.map_err(|e| {
                tracing::error!(
                    "single sign-on: the code exchange failed: {}",
                    error_chain(&e)
                );
                SsoError::ProviderUnreachable(self.settings.issuer.clone())
            })?;
            response
                .id_token()
                .cloned()
                .ok_or_else(|| rejected("the token response has no ID token".to_owned()))?
        };
        let nonce = Nonce::new(login.nonce.clone());
        // What sign-in needs of the verified token: its subject, how many audiences it names, and
        // its authorized party.
        let verify = |provider: &Provider| {
            id_token
                .claims(
                    &asymmetric_only(provider.client.id_token_verifier()),
                    &nonce,
                )
                .map(|c| {
                    (
                        c.subject().to_string(),
                        c.audiences().len(),
                        c.authorized_party().map(|a| a.to_string()),
                    )
                })
        };
        let verified = {
            let guard = self.provider.read().await;
            verify(guard.as_ref().expect("ensured above"))
        };
        let claims = match verified {
            Ok(claims) => claims,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // The provider may have rotated its keys: read its JWKS again, once.
                self.ensure(true).await?;
                let guard = self.provider.read().await;
                verify(guard.as_ref().expect("ensured above"))
                    .map_err(|e| rejected(e.to_string()))?
            }
            Err(e) => return Err(rejected(e.to_string())),
        };
        let (subject, audiences, authorized_party) = claims;
        check_authorized_party(
            audiences,
            authorized_party.as_deref(),
            &self.settings.client_id,
        )
        .map_err(rejected)?;
        let claims = payload(&id_token.to_string())
            .ok_or_else(|| rejected("the ID token's claims cannot be read".to_owned()))?;
        let identity = self.identity(subject, &claims)?;
        let (token, session) = sign_in_with_identity(
            pool,
            hasher,
            &identity,
            self.settings.create_accounts,
            Vec::new(),
        )
        .await
        .inspect_err(
            |e| tracing::warn!(subject = %identity.key.subject, "single sign-on refused: {e}"),
        )?;
        tracing::info!(user = %session.user.username, role = session.user.role.as_str(), "single sign-on");
        Ok(SignedIn {
            token,
            session,
            next: login.next,
        })
    }

    /// The person's identity, role and cohort from the verified claims.
    fn identity(
        &self,
        subject: String,
        claims: &serde_json::Value,
    ) -> Result<ProviderIdentity, SsoError> {
        let settings = &self.settings;
        let text = |name: &str| claims.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let email = text("email");
        if !settings.allowed_domains.is_empty() {
            // Only an address the provider says it verified counts, and only a plain one: one `@`,
            // so that `mallory@evil.example@example.org` names no domain at all.
            let verified = claims
                .get("email_verified")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            let domain = email
                .as_deref()
                .and_then(|e| e.split_once('@'))
                .filter(|(local, domain)| !local.is_empty() && !domain.contains('@'))
                .map(|(_, d)| d.to_ascii_lowercase());
            let allowed = verified
                && domain.as_ref().is_some_and(|d| {
                    settings
                        .allowed_domains
                        .iter()
                        .any(|a| a.eq_ignore_ascii_case(d))
                });
            if !allowed {
                let shown = match domain {
                    Some(domain) if verified => domain,
                    Some(_) => "e-mail addresses the sign-in service has not verified".to_owned(),
                    None => "no verified e-mail".to_owned(),
                };
                tracing::warn!(
                    subject,
                    "single sign-on: e-mail domain {shown} is not allowed"
                );
                return Err(SsoError::DomainNotAllowed(shown));
            }
        }
        let groups: Option<Vec<String>> = match claims.get(&settings.groups_claim) {
            Some(serde_json::Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_owned))
                    .collect(),
            ),
            Some(serde_json::Value::String(one)) => Some(vec![one.clone()]),
            _ => None,
        };
        let maps_roles =
            !settings.admin_groups.is_empty() || !settings.instructor_groups.is_empty();
        let needs_groups = maps_roles || settings.cohort_group_prefix.is_some();
        if needs_groups && groups.is_none() {
            tracing::warn!(
                subject,
                claim = %settings.groups_claim,
                "single sign-on: the ID token has no groups claim"
            );
            return Err(SsoError::GroupClaimMissing(settings.groups_claim.clone()));
        }
        let groups = groups.unwrap_or_default();
        let member = |list: &[String]| groups.iter().any(|g| list.contains(g));
        let role = maps_roles.then(|| {
            if member(&settings.admin_groups) {
                Role::Admin
            } else if member(&settings.instructor_groups) {
                Role::Instructor
            } else {
                Role::Learner
            }
        });
        let cohort = match (&settings.cohort_claim, &settings.cohort_group_prefix) {
            (Some(claim), _) => Some(text(claim)),
            (None, Some(prefix)) => Some(
                groups
                    .iter()
                    .find_map(|g| g.strip_prefix(prefix.as_str()).map(str::to_owned)),
            ),
            (None, None) => None,
        };
        let username_hint = text("preferred_username")
            .or_else(|| {
                email
                    .as_ref()
                    .and_then(|e| e.split('@').next().map(str::to_owned))
            })
            .unwrap_or_default();
        Ok(ProviderIdentity {
            key: IdentityKey::single_sign_on(&settings.issuer, &subject),
            username_hint,
            role,
            cohort,
            staff_of_cohort_only: false,
        })
    }

    /// The provider's logout address (RP-initiated logout), returning to the sign-in page, when
    /// the provider offers one.
    pub async fn logout_url(&self) -> Option<String> {
        let guard = self.provider.read().await;
        let mut url = guard.as_ref()?.logout.clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("post_logout_redirect_uri", &self.settings.after_logout_url);
        Some(url.to_string())
    }
}

fn rejected(reason: String) -> SsoError {
    tracing::warn!("single sign-on: ID token rejected: {reason}");
    SsoError::TokenRejected(reason)
}

/// A verified JWT's claims (its middle part), for the claims the core types do not carry.
fn payload(jwt: &str) -> Option<serde_json::Value> {
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The ID token verifier, limited to signatures by the provider's published keys: the HMAC
/// algorithms (keyed with the client secret, which others may hold too) and `none` are refused
/// even where the provider's discovery lists them.
pub(crate) fn asymmetric_only<'a>(
    verifier: openidconnect::core::CoreIdTokenVerifier<'a>,
) -> openidconnect::core::CoreIdTokenVerifier<'a> {
    use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
    verifier.set_allowed_algs([
        Alg::RsaSsaPkcs1V15Sha256,
        Alg::RsaSsaPkcs1V15Sha384,
        Alg::RsaSsaPkcs1V15Sha512,
        Alg::RsaSsaPssSha256,
        Alg::RsaSsaPssSha384,
        Alg::RsaSsaPssSha512,
        Alg::EcdsaP256Sha256,
        Alg::EcdsaP384Sha384,
        Alg::EcdsaP521Sha512,
        Alg::EdDsa,
    ])
}

/// OpenID Connect Core §3.1.3.7 steps 4 and 5, which the `openidconnect` crate leaves to its
/// users: a token for several audiences must name its authorized party, and a named authorized
/// party must be this client.
pub(crate) fn check_authorized_party(
    audiences: usize,
    authorized_party: Option<&str>,
    client_id: &str,
) -> Result<(), String> {
    match authorized_party {
        Some(azp) if azp != client_id => Err(format!(
            "the token was issued to another client (azp `{}`)",
            azp.chars().take(64).collect::<String>()
        )),
        None if audiences > 1 => {
            Err("the token names several audiences but no authorized party (azp)".to_owned())
        }
        _ => Ok(()),
    }
}
