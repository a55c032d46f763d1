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
