//! A learning platform double for LTI 1.3 launches, in the style of the Kubernetes API double:
//! real RS256 keys published as a JWKS over HTTP, and launch ID tokens built as Moodle or Canvas
//! build them, which a [`Launch`] can make wrong in one way.

use std::time::Duration;

use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};

/// Lectern's client id at the platform.
pub const TOOL_CLIENT_ID: &str = "lectern-tool";
/// The deployment registered with Lectern.
pub const DEPLOYMENT: &str = "deployment-1";

const KEYS: [&str; 2] = [
    include_str!("oidc_key_1.pem"),
    include_str!("oidc_key_2.pem"),
];

/// A platform: its issuer URL and JWKS, on loopback.
pub struct PlatformDouble {
    /// `iss` of its launches, and the base of its URLs.
    pub issuer: String,
    _server: tokio::task::JoinHandle<()>,
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
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let jwks = jwks.clone();
                async move { axum::Json(jwks) }
            }),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.ok();
        });
        Self {
            issuer,
            _server: server,
        }
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
            deployment: DEPLOYMENT.to_owned(),
            version: "1.3.0".to_owned(),
            message_type: "LtiResourceLinkRequest".to_owned(),
            expires_in: 300,
            forged: false,
        }
    }

    /// The signed `id_token` for a launch whose login had this `nonce`.
    pub fn id_token(&self, platform: &PlatformDouble, nonce: &str) -> String {
        let now = chrono::Utc::now();
        let expires = now + chrono::Duration::seconds(self.expires_in);
        let issued = if self.expires_in < 0 {
            expires - chrono::Duration::from_std(Duration::from_secs(600)).unwrap()
        } else {
            now
        };
        let claims = openidconnect::IdTokenClaims::new(
            openidconnect::IssuerUrl::new(platform.issuer.clone()).unwrap(),
            vec![openidconnect::Audience::new(self.audience.clone())],
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
            })),
        )
        .set_nonce(Some(openidconnect::Nonce::new(nonce.to_owned())));
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
