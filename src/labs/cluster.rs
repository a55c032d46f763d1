//! The connection to a learner's cluster: configuration, timeouts, and the one place where
//! `kube::Error` is turned into something a learner can act on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, ApiCapabilities};
use kube::{Client, Config};

/// How to reach the cluster.
#[derive(Clone, Default)]
pub struct ConnectOptions {
    /// A kubeconfig file; otherwise `KUBECONFIG`, `~/.kube/config`, then in-cluster configuration.
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig's contents, kept server-side for one learner; takes precedence over `kubeconfig`.
    pub inline_kubeconfig: Option<String>,
    /// A context of the kubeconfig; otherwise its current context.
    pub context: Option<String>,
    /// How long to wait for the API server, per request.
    pub timeout: Duration,
}

impl std::fmt::Debug for ConnectOptions {
    /// Never prints an assigned kubeconfig: it holds credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("kubeconfig", &self.kubeconfig)
            .field(
                "inline_kubeconfig",
                &self.inline_kubeconfig.as_ref().map(|_| "(redacted)"),
            )
            .field("context", &self.context)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why the cluster could not answer a question, in words a learner can act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClusterError {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot configure a connection to the cluster: {0}")]
    Config(String),
    /// The kubeconfig has no context of this name: a typo, or a second cluster not created yet.
    #[error("the kubeconfig has no context `{context}` (it has: {})", available.join(", "))]
    NoContext {
        /// The context asked for.
        context: String,
        /// The contexts it has.
        available: Vec<String>,
    },
    /// Nothing answered at the address.
    #[error("cannot reach the cluster at {url}: {detail}")]
    Unreachable {
        /// The API server URL.
        url: String,
        /// What the connection attempt reported.
        detail: String,
    },
    /// The API server did not answer in time.
    #[error("the cluster at {url} did not answer within {secs} s")]
    Timeout {
        /// The API server URL.
        url: String,
        /// The timeout.
        secs: u64,
    },
    /// The TLS handshake failed: wrong CA, wrong server name.
    #[error("TLS connection to {url} failed: {detail}")]
    Tls {
        /// The API server URL.
        url: String,
        /// What the TLS stack reported.
        detail: String,
    },
    /// 401: the credentials were rejected.
    #[error(
        "the cluster at {url} rejected the credentials (401 Unauthorized): check the kubeconfig's user and that its token or certificate has not expired"
    )]
    Unauthorized {
        /// The API server URL.
        url: String,
    },
    /// 403: Lectern's identity lacks a permission it needs.
    #[error("Lectern's identity is not allowed to {action} (403 Forbidden): {message}")]
    Forbidden {
        /// What was attempted, e.g. `list pods`.
        action: String,
        /// The API server's message.
        message: String,
    },
    /// 404 on discovery: the API group/version is not served by this cluster.
    #[error("the cluster does not serve {api_version} (404 on discovery)")]
    NotServed {
        /// The apiVersion asked for.
        api_version: String,
    },
    /// The group/version is served, but has no such kind.
    #[error("the cluster serves {api_version}, but it has no kind {kind}")]
    KindNotServed {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// The operator's exec credential plugin failed; its command, environment and output are logged,
    /// never shown.
    #[error(
        "Lectern could not get credentials for the cluster from its credential plugin; an administrator can find the cause in Lectern's log"
    )]
    CredentialPlugin,
    /// The answer could not be understood.
    #[error("the cluster sent a response Lectern cannot read: {0}")]
    Malformed(String),
    /// A check asks a kubeconfig context that the learner's bridge does not relay.
    #[error(
        "this check asks the kubeconfig context `{context}`, which your lectern connect does not relay: stop it (Ctrl-C) and run it again naming every context this lab uses, the one your other checks ask first: `lectern connect <this portal> --context {relayed} --context {context}` (a lectern that refuses a second `--context` is too old to relay two: install a newer one)"
    )]
    ContextNotRelayed {
        /// The context the check asks.
        context: String,
        /// The contexts the bridge relays, as `--context` arguments (the first first).
        relayed: String,
    },
    /// The learner's `lectern connect` bridge closed while the check waited.
    #[error("{0}")]
    BridgeClosed(String),
    /// Any other API error, with the server's own words.
    #[error("the cluster answered {code}: {message}")]
    Api {
        /// HTTP status.
        code: u16,
        /// The server's message.
        message: String,
    },
}

impl ClusterError {
    /// A short name for the kind of error (`unreachable`, `timeout`, …): a metric's label.
    pub fn kind(&self) -> &'static str {
        match self {
            ClusterError::Config(_) => "config",
            ClusterError::NoContext { .. } => "no_context",
            ClusterError::Unreachable { .. } => "unreachable",
            ClusterError::Timeout { .. } => "timeout",
            ClusterError::Tls { .. } => "tls",
            ClusterError::Unauthorized { .. } => "unauthorized",
            ClusterError::Forbidden { .. } => "forbidden",
            ClusterError::NotServed { .. } => "not_served",
            ClusterError::KindNotServed { .. } => "kind_not_served",
            ClusterError::CredentialPlugin => "credential_plugin",
            ClusterError::Malformed(_) => "malformed",
            ClusterError::ContextNotRelayed { .. } => "context_not_relayed",
            ClusterError::BridgeClosed(_) => "bridge_closed",
            ClusterError::Api { .. } => "api",
        }
    }

    /// What a learner reads first: a plain sentence saying what went wrong and what to try. The
    /// error's own text (its `Display`) is the technical detail, shown on request.
    pub fn advice(&self) -> String {
        match self {
            ClusterError::NoContext { context, .. } => format!("Your kubeconfig has no context `{context}`. Create that cluster first, or compare the name with `kubectl config get-contexts`, and check again."),
            ClusterError::Unreachable { .. } => "Lectern cannot reach your cluster's API server. Is the cluster running? `docker ps` should list its nodes and `kind get clusters` its name; start Docker or create the cluster, then check again.".to_owned(),
            ClusterError::Timeout { .. } => "Your cluster's API server did not answer in time. It may be starting or overloaded: wait a few seconds and check again (`kubectl get --raw /readyz` says whether it is ready).".to_owned(),
            ClusterError::Tls { .. } | ClusterError::Unauthorized { .. } => "Your kubeconfig does not fit the cluster that answered: it may belong to an earlier cluster of the same name. Run `kind export kubeconfig --name k8s-ha` and check again.".to_owned(),
            ClusterError::Forbidden { .. } => "The identity Lectern uses may not read what this check needs. Use your own admin kubeconfig on your laptop, or apply static/manifests/lectern-rbac.yaml for a shared portal.".to_owned(),
            ClusterError::NotServed { .. } | ClusterError::KindNotServed { .. } => "Your cluster does not serve an API this check needs. `kubectl version` shows its version: this lab needs Kubernetes 1.34 or newer.".to_owned(),
            ClusterError::Malformed(_) => "Your cluster's answer could not be read. Is the kubeconfig's server address really a Kubernetes API server?".to_owned(),
            ClusterError::Api { .. } => "Your cluster answered with an error Lectern did not expect. The details below say what it was; check again in a moment.".to_owned(),
            ClusterError::Config(_)
            | ClusterError::CredentialPlugin
            | ClusterError::ContextNotRelayed { .. }
            | ClusterError::BridgeClosed(_) => self.to_string(),
        }
    }
}

/// How long a watch may go without a byte: above the 290 s kube-rs asks the API server to end a
/// watch after, so the server's end comes first (bookmarks arrive about once a minute).
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Verbs that change the cluster (or let an identity gain more rights).
const WRITE_VERBS: &[&str] = &[
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
    "*",
];

/// Resources whose `create` only asks the cluster a question and changes nothing.
const QUESTIONS: &[&str] = &[
    "subjectaccessreviews",
    "selfsubjectaccessreviews",
    "selfsubjectrulesreviews",
    "localsubjectaccessreviews",
    "selfsubjectreviews",
    "tokenreviews",
];

/// A connected cluster, with a per-run cache of discovery answers.
pub struct Cluster {
    /// The kube-rs client, with timeouts set.
    pub client: Client,
    /// The API server URL, for messages.
    pub url: String,
    /// The kubeconfig context it was made from (`in-cluster` for a pod's service account).
    pub context: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Which connection this is (the kubeconfig and context, or the bridge), so that clusters
    /// made apart for the same place share their watches.
    pub key: String,
    /// The client for watches: the same connection without the read timeout, since a watch
    /// waits for changes (the API server ends it after `timeoutSeconds`).
    pub watch_client: Client,
    discovered: Mutex<HashMap<String, (ApiResource, ApiCapabilities)>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Builds a client from the kubeconfig (or in-cluster configuration) without contacting the cluster.
    ///
    /// An assigned (inline) kubeconfig is refused if it names a program or a server file, even if it
    /// was stored before Lectern refused them at assignment. The operator's kubeconfig may use an exec
    /// credential plugin: Lectern runs it here, with [`exec_plugin_limit`](Self::exec_plugin_limit).
    pub async fn connect(options: &ConnectOptions) -> Result<Self, ClusterError> {
        let kube_options = KubeConfigOptions {
            context: options.context.clone(),
            ..Default::default()
        };
        let kubeconfig = match (&options.inline_kubeconfig, &options.kubeconfig) {
            (Some(yaml), _) => {
                let kubeconfig = Kubeconfig::from_yaml(yaml)
                    .map_err(|e| ClusterError::Config(format!("the assigned kubeconfig: {e}")))?;
                super::kubeconfig::refuse_programs_and_files(&kubeconfig).map_err(|e| {
                    ClusterError::Config(format!("{e}; an administrator must assign it again"))
                })?;
                Some(kubeconfig)
            }
            (None, Some(path)) => Some(
                Kubeconfig::read_from(path)
                    .map_err(|e| ClusterError::Config(format!("{}: {e}", path.display())))?,
            ),
            (None, None) => match Kubeconfig::read() {
                Ok(kubeconfig) => Some(kubeconfig),
                Err(_) if options.context.is_none() => None,
                Err(e) => return Err(ClusterError::Config(e.to_string())),
            },
        };
        let context = match (&options.context, &kubeconfig) {
            (Some(context), _) => context.clone(),
            (None, Some(kubeconfig)) => kubeconfig.current_context.clone().unwrap_or_default(),
            (None, None) => "in-cluster".to_owned(),
        };
        if let (Some(kubeconfig), Some(context)) = (&kubeconfig, &options.context)
            && !kubeconfig.contexts.iter().any(|c| &c.name == context)
        {
            return Err(ClusterError::NoContext {
                context: context.clone(),
                available: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
            });
        }
        let mut config = match kubeconfig {
            Some(mut kubeconfig) => {
                if options.inline_kubeconfig.is_none() {
                    let limit = Self::exec_plugin_limit(options.timeout);
                    super::kubeconfig::run_exec_plugin(
                        &mut kubeconfig,
                        options.context.as_deref(),
                        limit,
                    )
                    .await?;
                }
                Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                    .await
                    .map_err(|e| ClusterError::Config(e.to_string()))?
            }
            None => Config::incluster().map_err(|e| {
                ClusterError::Config(format!(
                    "no kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) and not running in a pod: {e}"
                ))
            })?,
        };
        config.connect_timeout = Some(options.timeout);
        config.read_timeout = Some(options.timeout);
        config.write_timeout = Some(options.timeout);
        let url = config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned();
        let mut watch_config = config.clone();
        watch_config.read_timeout = Some(WATCH_READ_TIMEOUT);
        let client = Client::try_from(config).map_err(|e| ClusterError::Config(e.to_string()))?;
        let watch_client =
            Client::try_from(watch_config).map_err(|e| ClusterError::Config(e.to_string()))?;
        Ok(Self {
            client,
            url,
            context,
            timeout: options.timeout,
            key: cache_key(options),
            watch_client,
            discovered: Mutex::new(HashMap::new()),
        })
    }

    /// A cluster reached through a learner's `lectern connect` bridge: kube-rs sends its requests
    /// over the bridge, so every check kind works unchanged. `further`: one of the further contexts
    /// the bridge relays (`None`: its first).
    pub fn over_bridge(
        link: crate::bridge::BridgeLink,
        further: Option<&str>,
        timeout: Duration,
    ) -> Self {
        let context = further.unwrap_or(&link.info().context).to_owned();
        let url = format!("your cluster (context {context}, through lectern connect)");
        let key = bridge_key(&link, further);
        let client = Client::new(
            crate::bridge::LinkService::new(link, further.map(str::to_owned)),
            "default",
        );
        Self::over_client(client, context, url, key, timeout)
    }

    /// A cluster reached through a client built elsewhere (a bridge, a recorded state served
    /// in-process by `lectern lab test`), under `key` for the caches and watches.
    pub fn over_client(
        client: Client,
        context: String,
        url: String,
        key: String,
        timeout: Duration,
    ) -> Self {
        Self {
            watch_client: client.clone(),
            client,
            url,
            context,
            timeout,
            key,
            discovered: Mutex::new(HashMap::new()),
        }
    }

    /// How long an exec credential plugin may take: four API request timeouts (cloud plugins such
    /// as `aws eks get-token` start a runtime and call a token service).
    pub fn exec_plugin_limit(request_timeout: Duration) -> Duration {
        request_timeout * 4
    }

    /// Runs one request with the timeout, mapping failures by meaning; `action` says what was attempted.
    pub async fn call<T>(
        &self,
        action: &str,
        request: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, ClusterError> {
        let started = std::time::Instant::now();
        match tokio::time::timeout(self.timeout, request).await {
            Err(_) => Err(self.timed_out()),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                let detail = error_chain(&error);
                match self.classify(action, error) {
                    // A "timeout" long before ours is not a slow cluster but a connection that
                    // broke (a pooled one the server had closed): say so, not "did not answer".
                    ClusterError::Timeout { .. } if started.elapsed() < self.timeout / 2 => {
                        Err(ClusterError::Unreachable {
                            url: self.url.clone(),
                            detail,
                        })
                    }
                    other => Err(other),
                }
            }
        }
    }

    /// The error for a request that did not finish in time.
    pub fn timed_out(&self) -> ClusterError {
        ClusterError::Timeout {
            url: self.url.clone(),
            secs: self.timeout.as_secs().max(1),
        }
    }

    /// Asks the server for its version: the cheapest proof that it answers, and is who we think.
    pub async fn ping(
        &self,
    ) -> Result<k8s_openapi::apimachinery::pkg::version::Info, ClusterError> {
        self.call("read the server version", self.client.apiserver_version())
            .await
    }

    /// A plain `GET` of a non-resource path (`/readyz?verbose`, `/version`): its status and body as
    /// text, for the health checks and for the live checks' shared re-asking.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String), ClusterError> {
        use http_body_util::BodyExt;
        let request = http::Request::get(path)
            .body(kube::client::Body::empty())
            .map_err(|e| ClusterError::Malformed(e.to_string()))?;
        let action = format!("get {}", path.split('?').next().unwrap_or(path));
        let response = self.call(&action, self.client.send(request)).await?;
        let code = response.status().as_u16();
        match tokio::time::timeout(self.timeout, response.into_body().collect()).await {
            Err(_) => Err(self.timed_out()),
            Ok(Err(e)) => Err(self.classify(&action, e)),
            Ok(Ok(body)) => Ok((code, String::from_utf8_lossy(&body.to_bytes()).into_owned())),
        }
    }

    /// Rules of Lectern's own identity that would let it change the cluster, as the cluster reports
    /// them (SelfSubjectRulesReview), each described so an administrator can find and remove it.
    pub async fn write_grants(&self) -> Result<Vec<String>, ClusterError> {
        use k8s_openapi::api::authorization::v1::{
            SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
        };
        let review = SelfSubjectRulesReview {
            spec: SelfSubjectRulesReviewSpec {
                namespace: Some("kube-system".to_owned()),
            },
            ..Default::default()
        };
        let api: kube::Api<SelfSubjectRulesReview> = kube::Api::all(self.client.clone());
        let answer = self
            .call(
                "create selfsubjectrulesreviews",
                api.create(&Default::default(), &review),
            )
            .await?;
        let rules = answer.status.map(|s| s.resource_rules).unwrap_or_default();
        // Several bindings can grant the same rule (kind's admin has it twice): say each once.
        let mut said = std::collections::HashSet::new();
        Ok(rules
            .into_iter()
            .filter_map(|rule| {
                let writes: Vec<&str> = rule.verbs.iter().map(String::as_str).filter(|v| WRITE_VERBS.contains(v)).collect();
                let resources: Vec<&str> =
                    rule.resources.iter().flatten().map(String::as_str).filter(|r| !QUESTIONS.contains(r)).collect();
                if writes.is_empty() || resources.is_empty() {
                    return None;
                }
                let groups: Vec<String> = rule.api_groups.iter().flatten().map(|g| format!("{g:?}")).collect();
                Some(format!(
                    "Lectern's identity may {} {} (API groups {}): it only needs read access; see lectern-rbac.yaml",
                    writes.join("/"),
                    resources.join(", "),
                    groups.join(", ")
                ))
            })
            .filter(|grant| said.insert(grant.clone()))
            .collect())
    }

    /// Finds how the cluster serves `api_version`/`kind`, once per kind per connection.
    pub async fn resource(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), ClusterError> {
        let key = format!("{api_version}/{kind}");
        if let Some(found) = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(found.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found =
            match tokio::time::timeout(self.timeout, discovery::pinned_kind(&self.client, &gvk))
                .await
            {
                Err(_) => return Err(self.timed_out()),
                Ok(Ok(found)) => found,
                Ok(Err(kube::Error::Api(e))) if e.code == 404 => {
                    return Err(ClusterError::NotServed {
                        api_version: api_version.to_owned(),
                    });
                }
                Ok(Err(kube::Error::Discovery(_))) => {
                    return Err(ClusterError::KindNotServed {
                        api_version: api_version.to_owned(),
                        kind: kind.to_owned(),
                    });
                }
                Ok(Err(e)) => return Err(self.classify(&format!("discover {api_version}"), e)),
            };
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, found.clone());
        Ok(found)
    }

    /// The typed API for a kind, in a namespace where it is namespaced; also whether it is.
    pub async fn api_for(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<(kube::Api<kube::core::DynamicObject>, bool), ClusterError> {
        let (resource, capabilities) = self.resource(api_version, kind).await?;
        let namespaced = capabilities.scope == kube::discovery::Scope::Namespaced;
        let api = match namespace {
            Some(ns) if namespaced => {
                kube::Api::namespaced_with(self.client.clone(), ns, &resource)
            }
            _ => kube::Api::all_with(self.client.clone(), &resource),
        };
        Ok((api, namespaced))
    }

    /// The API for watching a kind (in a namespace where it is namespaced), on the connection
    /// without a read timeout.
    pub async fn watch_api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<kube::Api<kube::core::DynamicObject>, ClusterError> {
        let (resource, capabilities) = self.resource(api_version, kind).await?;
        let namespaced = capabilities.scope == kube::discovery::Scope::Namespaced;
        Ok(match namespace {
            Some(ns) if namespaced => {
                kube::Api::namespaced_with(self.watch_client.clone(), ns, &resource)
            }
            _ => kube::Api::all_with(self.watch_client.clone(), &resource),
        })
    }

    /// Secrets are never read: only their metadata, so no secret value reaches Lectern or its
    /// database.
    pub fn is_secret(api_version: &str, kind: &str) -> bool {
        api_version == "v1" && kind == "Secret"
    }

    /// Maps a kube-rs error to what it means for the learner.
    pub fn classify(&self, action: &str, error: kube::Error) -> ClusterError {
        let url = self.url.clone();
        match error {
            kube::Error::Api(e) => match e.code {
                401 => ClusterError::Unauthorized { url },
                403 => ClusterError::Forbidden {
                    action: action.to_owned(),
                    message: e.message,
                },
                _ if e.reason == "Failed to parse error data" => ClusterError::Malformed(format!(
                    "{} answered {}: {}",
                    action, e.code, e.message
                )),
                code => ClusterError::Api {
                    code,
                    message: e.message,
                },
            },
            kube::Error::SerdeError(e) => ClusterError::Malformed(e.to_string()),
            kube::Error::FromUtf8(e) => ClusterError::Malformed(e.to_string()),
            kube::Error::RustlsTls(e) => ClusterError::Tls {
                url,
                detail: error_chain(&e),
            },
            kube::Error::Auth(e) => ClusterError::Config(format!(
                "the kubeconfig's credentials cannot be used: {}",
                error_chain(&e)
            )),
            other => {
                if let Some(closed) = find_cause::<crate::bridge::LinkError>(&other) {
                    return ClusterError::BridgeClosed(closed.to_string());
                }
                let detail = error_chain(&other);
                // The transport's errors arrive boxed; their I/O cause says what happened.
                match io_error_kind(&other) {
                    Some(std::io::ErrorKind::TimedOut) => {
                        return ClusterError::Timeout {
                            url,
                            secs: self.timeout.as_secs().max(1),
                        };
                    }
                    Some(
                        std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::HostUnreachable
                        | std::io::ErrorKind::NetworkUnreachable
                        | std::io::ErrorKind::AddrNotAvailable,
                    ) => return ClusterError::Unreachable { url, detail },
                    _ => {}
                }
                // Last resort, for causes that carry no type to match: their words.
                let lower = detail.to_lowercase();
                if lower.contains("timed out")
                    || lower.contains("deadline")
                    || lower.contains("elapsed")
                {
                    ClusterError::Timeout {
                        url,
                        secs: self.timeout.as_secs().max(1),
                    }
                } else if lower.contains("certificate")
                    || lower.contains("tls")
                    || lower.contains("handshake")
                {
                    ClusterError::Tls { url, detail }
                } else if lower.contains("expected value")
                    || lower.contains("invalid") && lower.contains("json")
                {
                    ClusterError::Malformed(detail)
                } else {
                    ClusterError::Unreachable { url, detail }
                }
            }
        }
    }
}

/// The first cause of type `T` in an error's chain.
fn find_cause<'a, T: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

/// The kind of the first I/O error among an error's causes.
fn io_error_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// The error and its causes, joined, without repeating the same text.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Connected clusters, reused across runs so TLS connections and discovery answers are not rebuilt for
/// every "Check my work". Entries expire (credentials may be rotated) and are dropped on connection
/// errors.
#[derive(Debug, Default)]
pub struct ClusterCache {
    entries: Mutex<HashMap<String, (std::time::Instant, std::sync::Arc<Cluster>)>>,
}

/// How long a connected cluster is reused.
const CACHE_TTL: Duration = Duration::from_secs(60);

impl ClusterCache {
    /// A connected cluster for these options, reused when fresh.
    pub async fn get(
        &self,
        options: &ConnectOptions,
    ) -> Result<std::sync::Arc<Cluster>, ClusterError> {
        let key = cache_key(options);
        if let Some((at, cluster)) = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(cluster.clone());
        }
        let cluster = std::sync::Arc::new(Cluster::connect(options).await?);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (std::time::Instant::now(), cluster.clone()));
        Ok(cluster)
    }

    /// The cluster behind a learner's bridge, reused (with its discovery answers) for as long as
    /// that connection lasts, up to the cache's lifetime.
    pub fn bridged(
        &self,
        link: crate::bridge::BridgeLink,
        context: Option<&str>,
        timeout: Duration,
    ) -> std::sync::Arc<Cluster> {
        let key = bridge_key(&link, context);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        if let Some((_, cluster)) = entries.get(&key) {
            return cluster.clone();
        }
        let cluster = std::sync::Arc::new(Cluster::over_bridge(link, context, timeout));
        entries.insert(key, (std::time::Instant::now(), cluster.clone()));
        cluster
    }

    /// Keeps `cluster` as the one for these options: a recorded state's context, which
    /// `lectern lab test` serves in-process rather than connects to.
    pub fn preset(&self, options: &ConnectOptions, cluster: std::sync::Arc<Cluster>) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cache_key(options), (std::time::Instant::now(), cluster));
    }

    /// Forgets the cluster for these options (after it failed), so the next run connects afresh.
    pub fn evict(&self, options: &ConnectOptions) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cache_key(options));
    }
}

/// Names one context of a bridge connection among the clusters a server keeps (its watches are
/// shared by this key too).
fn bridge_key(link: &crate::bridge::BridgeLink, further: Option<&str>) -> String {
    match further {
        None => format!("bridge:{}", link.key()),
        Some(further) => format!("bridge:{}:{further}", link.key()),
    }
}

fn cache_key(options: &ConnectOptions) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    options.inline_kubeconfig.hash(&mut hasher);
    options.kubeconfig.hash(&mut hasher);
    options.context.hash(&mut hasher);
    options.timeout.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_an_assigned_kubeconfig() {
        let options = ConnectOptions {
            inline_kubeconfig: Some("users:\n- user:\n    token: s3cr3t-token\n".to_owned()),
            ..Default::default()
        };
        let printed = format!("{options:?}");
        assert!(!printed.contains("s3cr3t-token"), "{printed}");
        assert!(printed.contains("(redacted)"));
    }

    #[test]
    fn io_causes_are_found_by_type() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "no");
        assert_eq!(
            io_error_kind(&refused),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
    }
}
