//! Command-line flags and their `LECTERN_*` environment variables, in one place.
//!
//! Tests build these structs directly, so the server they start is configured exactly as a user's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::db::Location;

/// Lectern: courseware for hands-on Kubernetes training.
#[derive(Debug, Parser)]
#[command(name = "lectern", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log filter, e.g. `info` or `lectern=debug,tower_http=debug`.
    #[arg(long, env = "LECTERN_LOG", default_value = "info", global = true)]
    pub log: String,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the course over HTTP.
    Serve(Box<ServeArgs>),
    /// Check a course folder and print every error with file and line.
    Validate(ValidateArgs),
    /// List labs, or check a learner's cluster against a lab's steps.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Write a consistent copy of the database, safe while the server runs.
    Backup(BackupArgs),
    /// Manage accounts for portal mode.
    #[command(subcommand)]
    User(UserCommand),
    /// Export grades.
    #[command(subcommand)]
    Grades(GradesCommand),
    /// Relay a portal's read-only checks to your own cluster (portal mode): pair once with the
    /// command the portal's Connect page shows, then `lectern connect URL`.
    Connect(ConnectArgs),
}

/// `lectern connect`.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// The portal, e.g. `https://lectern.example.org`.
    pub url: String,
    /// The one-time pairing code from the portal's Connect page (first use only).
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// Where the bridge token is kept [default: $XDG_CONFIG_HOME/lectern, else ~/.config/lectern].
    #[arg(long, env = "LECTERN_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Kubeconfig file [default: $KUBECONFIG, ~/.kube/config, or in-cluster configuration].
    #[arg(long, env = "LECTERN_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// A kubeconfig context to relay; repeat it for a lab that uses several clusters (the first is
    /// the one checks naming no context ask) [default: the current context].
    #[arg(
        long = "context",
        env = "LECTERN_CONTEXT",
        value_name = "NAME",
        value_delimiter = ','
    )]
    pub contexts: Vec<String>,
    /// Seconds to wait for the API server before giving up.
    #[arg(
        long,
        env = "LECTERN_CLUSTER_TIMEOUT",
        default_value_t = 5,
        value_name = "SECONDS"
    )]
    pub cluster_timeout: u64,
}

impl ConnectArgs {
    /// How to reach one relayed context (`None`: the kubeconfig's current one).
    pub fn connect_options(&self, context: Option<&str>) -> crate::labs::ConnectOptions {
        options_for(self.kubeconfig.as_ref(), context, self.cluster_timeout)
    }
}

/// A kubeconfig file's context as the lab runner reaches it, within `timeout` seconds (at least 1).
fn options_for(
    kubeconfig: Option<&PathBuf>,
    context: Option<&str>,
    timeout: u64,
) -> crate::labs::ConnectOptions {
    crate::labs::ConnectOptions {
        kubeconfig: kubeconfig.cloned(),
        inline_kubeconfig: None,
        context: context.map(str::to_owned),
        timeout: Duration::from_secs(timeout.max(1)),
    }
}

/// `lectern grades …`.
#[derive(Debug, Subcommand)]
pub enum GradesCommand {
    /// Print the gradebook as CSV (RFC 4180, UTF-8, header row first) on standard output: per learner
    /// and module, lab steps passed, auto-graded, instructor-graded and total scores. Instructor
    /// scores include grades not yet released to learners.
    Export(GradesExportArgs),
}

/// `lectern grades export`.
#[derive(Debug, Clone, Args)]
pub struct GradesExportArgs {
    /// Only this module (its id, e.g. `cluster-architecture`).
    #[arg(long, value_name = "ID")]
    pub module: Option<String>,
    /// Only the learners of this cohort.
    #[arg(long, value_name = "NAME")]
    pub cohort: Option<String>,
    /// Extra columns: `questions` (a score per question) or `criteria` (also per rubric criterion).
    #[arg(long, default_value = "summary", value_parser = crate::reports::gradebook::Detail::parse)]
    pub detail: crate::reports::gradebook::Detail,
    /// Course folder (default: the embedded course); use the one the server runs with.
    #[arg(long, env = "LECTERN_CONTENT", value_name = "DIR")]
    pub content: Option<PathBuf>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `lectern user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from standard input when it is piped; otherwise a
    /// strong one is generated and printed once.
    Add(UserAddArgs),
    /// List every account with its role, cohort, last sign-in and state.
    List {
        /// The database.
        #[command(flatten)]
        db: DbArgs,
    },
    /// Give an account a new generated password (printed once) and end its sessions.
    ResetPassword(UserNameArgs),
    /// Change an account's role or cohort.
    Set(UserSetArgs),
    /// Stop an account from signing in and end its sessions; its work is kept.
    Deactivate(UserNameArgs),
    /// Let a deactivated account sign in again.
    Reactivate(UserNameArgs),
}

/// `lectern user reset-password|deactivate|reactivate NAME`.
#[derive(Debug, Clone, Args)]
pub struct UserNameArgs {
    /// The user name.
    pub name: String,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `lectern user set NAME [--role R] [--cohort C]`.
#[derive(Debug, Clone, Args)]
pub struct UserSetArgs {
    /// The user name.
    pub name: String,
    /// learner, instructor or admin.
    #[arg(long, value_parser = crate::auth::Role::parse)]
    pub role: Option<crate::auth::Role>,
    /// The cohort; `--cohort ""` removes it.
    #[arg(long)]
    pub cohort: Option<String>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `lectern user add`.
#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    /// The user name (letters, digits, `.`, `_`, `-`, `@`).
    pub name: String,
    /// learner, instructor or admin.
    #[arg(long, default_value = "learner", value_parser = crate::auth::Role::parse)]
    pub role: crate::auth::Role,
    /// The cohort the person belongs to, for instructors' views.
    #[arg(long)]
    pub cohort: Option<String>,
    /// Link the account to this subject (`sub`) at the single sign-on provider instead of giving
    /// it a password: how people enter when accounts are not created at first sign-in.
    #[arg(long, value_name = "SUB", requires = "oidc_issuer")]
    pub oidc_subject: Option<String>,
    /// The provider's issuer URL, as `lectern serve --oidc-issuer` has it.
    #[arg(long, env = "LECTERN_OIDC_ISSUER", value_name = "URL")]
    pub oidc_issuer: Option<String>,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `lectern backup`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist yet.
    #[arg(value_name = "PATH")]
    pub target: PathBuf,
    /// The database to copy.
    #[command(flatten)]
    pub db: DbArgs,
}

/// `lectern lab …`.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Print the id of every lab, one per line.
    List {
        /// Course folder (default: the embedded course).
        #[arg(long, env = "LECTERN_CONTENT", value_name = "DIR")]
        content: Option<PathBuf>,
    },
    /// Run a lab's checks against the cluster; exit 0 if all pass, 1 if any fail, 2 if they could not run.
    Check(LabCheckArgs),
    /// Run every lab's tests (lab/tests/lab-test.toml) against their recorded states, offline;
    /// exit 0 if every verdict is the expected one, 1 if not, 2 if the tests are invalid.
    Test(LabTestArgs),
    /// Record what a lab's checks read from a live cluster (read-only) as a state for its tests.
    Record(LabRecordArgs),
}

/// `lectern lab test`.
#[derive(Debug, Clone, Args)]
pub struct LabTestArgs {
    /// Course folder.
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
    /// Only this lab (its id).
    #[arg(long, value_name = "LAB")]
    pub lab: Option<String>,
    /// Also fail unless at least this percentage of the checks catch a mutant.
    #[arg(long, value_name = "PERCENT")]
    pub require_score: Option<f64>,
}

/// `lectern lab record`.
#[derive(Debug, Clone, Args)]
pub struct LabRecordArgs {
    /// The lab's id.
    pub lab: String,
    /// The step the cluster is at: the new state is listed as one that must pass it.
    #[arg(long, value_name = "N")]
    pub step: u32,
    /// The state's name: written to lab/tests/states/NAME.json, and added to lab-test.toml.
    #[arg(long = "as", value_name = "NAME")]
    pub name: String,
    /// Course folder.
    #[arg(long, env = "LECTERN_CONTENT", default_value = ".", value_name = "DIR")]
    pub content: PathBuf,
    /// Replace a state file of that name.
    #[arg(long)]
    pub force: bool,
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `lectern lab check`.
#[derive(Debug, Clone, Args)]
pub struct LabCheckArgs {
    /// The lab's id (see `lectern lab list`).
    pub lab: String,
    /// Only this step (its number); repeat for several (`--step 2 --step 3`); default: every step
    /// that has checks.
    #[arg(long, value_name = "N")]
    pub step: Vec<u32>,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Course folder (default: the embedded course).
    #[arg(long, env = "LECTERN_CONTENT", value_name = "DIR")]
    pub content: Option<PathBuf>,
    /// The cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Where runs are recorded.
    #[command(flatten)]
    pub db: DbArgs,
}

/// How `lab check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A readable report.
    Text,
    /// A stable JSON document for scripts.
    Json,
}

/// Which cluster lab checks run against.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file [default: $KUBECONFIG, ~/.kube/config, or in-cluster configuration].
    #[arg(long, env = "LECTERN_KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context [default: the current context].
    #[arg(long, env = "LECTERN_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// Seconds to wait for the API server before giving up.
    #[arg(
        long,
        env = "LECTERN_CLUSTER_TIMEOUT",
        default_value_t = 5,
        value_name = "SECONDS"
    )]
    pub cluster_timeout: u64,
}

impl ClusterArgs {
    /// As the lab runner takes them.
    pub fn connect_options(&self) -> crate::labs::ConnectOptions {
        options_for(
            self.kubeconfig.as_ref(),
            self.context.as_deref(),
            self.cluster_timeout,
        )
    }
}

/// `lectern serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LECTERN_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Serve Prometheus metrics on this address instead of at `/metrics` on --addr (keeps them off
    /// the public port).
    #[arg(long, env = "LECTERN_METRICS_ADDRESS", value_name = "ADDR")]
    pub metrics_address: Option<SocketAddr>,
    /// After SIGTERM, keep serving this many seconds while `/readyz` answers 503, so the load
    /// balancer stops sending requests before this server stops accepting them (a rolling
    /// restart then fails none); set it above the time the readiness probe takes to notice
    /// (its period times its failure threshold) plus the time endpoints take to update.
    #[arg(
        long,
        env = "LECTERN_DRAIN_SECONDS",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    pub drain_seconds: u64,
    /// How the portal's other servers reach this one, e.g. `http://10.1.2.3:8080` (on Kubernetes,
    /// the pod's address): with PostgreSQL and several replicas, a check that reaches a server
    /// without the learner's `lectern connect` bridge is relayed through the server holding it.
    #[arg(long, env = "LECTERN_REPLICA_URL", value_name = "URL", value_parser = parse_replica_url)]
    pub replica_url: Option<String>,
    /// Serve the course in this folder instead of the embedded default course.
    #[arg(long, env = "LECTERN_CONTENT", value_name = "DIR")]
    pub content: Option<PathBuf>,
    /// Re-render the course when files under --content change.
    #[arg(long, env = "LECTERN_WATCH", requires = "content")]
    pub watch: bool,
    /// Seconds before a request is answered with 408 Request Timeout.
    #[arg(
        long,
        env = "LECTERN_REQUEST_TIMEOUT",
        default_value_t = 30,
        value_name = "SECONDS"
    )]
    pub request_timeout: u64,
    /// Seconds a client has to send a request's headers (also how long an idle kept-alive
    /// connection stays open, and how long a client may read nothing of a response).
    #[arg(
        long,
        env = "LECTERN_HEADER_TIMEOUT",
        default_value_t = 10,
        value_name = "SECONDS"
    )]
    pub header_timeout: u64,
    /// Open connections at most; further ones wait until one closes.
    #[arg(
        long,
        env = "LECTERN_MAX_CONNECTIONS",
        default_value_t = 4096,
        value_name = "N"
    )]
    pub max_connections: usize,
    /// Open connections one client address may hold (an IPv6 client: its /64); more from it are
    /// closed at once. The trusted proxies are not capped.
    #[arg(
        long,
        env = "LECTERN_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256,
        value_name = "N"
    )]
    pub max_connections_per_address: usize,
    /// Seconds after which a kept-alive connection closes once its current response is sent, so
    /// that clients spread again over replicas that came back.
    #[arg(
        long,
        env = "LECTERN_MAX_CONNECTION_AGE",
        default_value_t = 60,
        value_name = "SECONDS"
    )]
    pub max_connection_age: u64,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "LECTERN_MAX_BODY", default_value_t = 1 << 20, value_name = "BYTES")]
    pub max_body: usize,
    /// The database.
    #[command(flatten)]
    pub db: DbArgs,
    /// The cluster "Check my work" runs against.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Portal mode: everyone signs in, with roles learner, instructor and admin.
    #[arg(long, env = "LECTERN_PORTAL")]
    pub portal: bool,
    /// Mark session cookies Secure (set this when users reach Lectern over HTTPS, e.g. behind a TLS proxy).
    #[arg(long, env = "LECTERN_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Minutes of inactivity after which a session ends.
    #[arg(
        long,
        env = "LECTERN_SESSION_IDLE_MINUTES",
        default_value_t = 720,
        value_name = "MINUTES"
    )]
    pub session_idle_minutes: u64,
    /// Host names (besides localhost and IP addresses) under which personal mode answers, e.g. a
    /// name the learner gave this machine; comma-separated.
    #[arg(
        long,
        env = "LECTERN_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "NAMES"
    )]
    pub allowed_hosts: Vec<String>,
    /// Reverse proxies (addresses or CIDR ranges, comma-separated) whose `Forwarded` or
    /// `X-Forwarded-For` header names the client; no other peer's is believed.
    #[arg(
        long,
        env = "LECTERN_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDRS",
        value_parser = parse_network
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Hours after sign-in after which a session ends, active or not.
    #[arg(
        long,
        env = "LECTERN_SESSION_MAX_HOURS",
        default_value_t = 168,
        value_name = "HOURS"
    )]
    pub session_max_hours: u64,
    /// Where people reach this server (`https://lectern.example.org`): the base of the addresses
    /// given to identity providers and LMSs (single sign-on's redirect URI).
    #[arg(long, env = "LECTERN_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Single sign-on through an OpenID Connect provider.
    #[command(flatten)]
    pub sso: SsoArgs,
}

/// Whether the sign-in page takes passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PasswordSignIn {
    /// Every account may sign in with a password.
    #[default]
    On,
    /// Only accounts created with `lectern user add` (break-glass admins); everyone else signs in
    /// through the identity provider.
    BreakGlass,
}

/// `lectern serve`'s single sign-on settings (OpenID Connect, authorization code flow with PKCE).
#[derive(Debug, Clone, Default, Args)]
pub struct SsoArgs {
    /// The provider's issuer URL; its discovery document is read from
    /// `<issuer>/.well-known/openid-configuration`. Setting it turns single sign-on on.
    #[arg(long = "oidc-issuer", env = "LECTERN_OIDC_ISSUER", value_name = "URL", requires_all = ["client_id", "public_url"])]
    pub issuer: Option<String>,
    /// The client id registered with the provider.
    #[arg(
        long = "oidc-client-id",
        env = "LECTERN_OIDC_CLIENT_ID",
        value_name = "ID"
    )]
    pub client_id: Option<String>,
    /// A file holding the client secret (or set LECTERN_OIDC_CLIENT_SECRET); never on the
    /// command line, where other users could read it.
    #[arg(
        long = "oidc-client-secret-file",
        env = "LECTERN_OIDC_CLIENT_SECRET_FILE",
        value_name = "PATH"
    )]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to ask for, space- or comma-separated (`openid` is always asked).
    #[arg(
        long = "oidc-scopes",
        env = "LECTERN_OIDC_SCOPES",
        default_value = "openid email profile",
        value_name = "SCOPES"
    )]
    pub scopes: String,
    /// The name on the sign-in button: "Sign in with <name>".
    #[arg(
        long = "oidc-provider-name",
        env = "LECTERN_OIDC_PROVIDER_NAME",
        default_value = "your organisation",
        value_name = "NAME"
    )]
    pub provider_name: String,
    /// The ID token claim that lists the person's groups.
    #[arg(
        long = "oidc-groups-claim",
        env = "LECTERN_OIDC_GROUPS_CLAIM",
        default_value = "groups",
        value_name = "CLAIM"
    )]
    pub groups_claim: String,
    /// Groups whose members are admins (comma-separated).
    #[arg(
        long = "oidc-admin-groups",
        env = "LECTERN_OIDC_ADMIN_GROUPS",
        value_delimiter = ',',
        value_name = "GROUPS"
    )]
    pub admin_groups: Vec<String>,
    /// Groups whose members are instructors (comma-separated).
    #[arg(
        long = "oidc-instructor-groups",
        env = "LECTERN_OIDC_INSTRUCTOR_GROUPS",
        value_delimiter = ',',
        value_name = "GROUPS"
    )]
    pub instructor_groups: Vec<String>,
    /// A claim whose value is the person's cohort.
    #[arg(
        long = "oidc-cohort-claim",
        env = "LECTERN_OIDC_COHORT_CLAIM",
        value_name = "CLAIM"
    )]
    pub cohort_claim: Option<String>,
    /// Or: the group named `<prefix><cohort>` gives the cohort (e.g. `cohort-` makes
    /// `cohort-spring` the cohort `spring`).
    #[arg(
        long = "oidc-cohort-group-prefix",
        env = "LECTERN_OIDC_COHORT_GROUP_PREFIX",
        value_name = "PREFIX"
    )]
    pub cohort_group_prefix: Option<String>,
    /// Only people whose (verified) e-mail is in one of these domains may sign in (comma-separated).
    #[arg(
        long = "oidc-allowed-domains",
        env = "LECTERN_OIDC_ALLOWED_DOMAINS",
        value_delimiter = ',',
        value_name = "DOMAINS"
    )]
    pub allowed_domains: Vec<String>,
    /// Create an account at a person's first sign-in (just in time); otherwise only accounts an
    /// admin linked (`lectern user add NAME --oidc-subject SUB`) may enter.
    #[arg(long = "oidc-create-accounts", env = "LECTERN_OIDC_CREATE_ACCOUNTS")]
    pub create_accounts: bool,
    /// `on`, or `break-glass`: passwords only for accounts made with `lectern user add`.
    #[arg(long = "password-sign-in", env = "LECTERN_PASSWORD_SIGN_IN", value_enum, default_value_t = PasswordSignIn::On)]
    pub password_sign_in: PasswordSignIn,
}

impl ServeArgs {
    /// Session lifetimes.
    pub fn session_policy(&self) -> crate::auth::SessionPolicy {
        crate::auth::SessionPolicy {
            idle: Duration::from_secs(self.session_idle_minutes * 60),
            absolute: Duration::from_secs(self.session_max_hours * 3600),
        }
    }

    /// How many connections may be open, from whom, for how long, and how long headers may take.
    pub fn connection_limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            max_connections: self.max_connections.max(1),
            header_timeout: Duration::from_secs(self.header_timeout.max(1)),
            per_address: self.max_connections_per_address.max(1),
            uncapped: self.trusted_proxies.clone(),
            max_age: Duration::from_secs(self.max_connection_age.max(1)),
        }
    }

    /// The request timeout as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }
}

/// An address (`10.0.0.7`, a network of one) or a CIDR range (`10.0.0.0/8`).
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("`{text}` is neither an IP address nor a CIDR range such as 10.0.0.0/8")
        })
}

/// `http://fd00::1:8080` as `http://[fd00::1]:8080`: what `http://$(POD_IP):8080` gives on an
/// IPv6 cluster, where the pod's address comes without the brackets a URL needs. The last `:` is
/// the port's when what stands before it is an IPv6 address; anything else is left as it is.
fn bracket_ipv6_host(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let path = &rest[authority.len()..];
    let bracketed = match authority.rsplit_once(':') {
        Some((host, port))
            if host.parse::<std::net::Ipv6Addr>().is_ok() && port.parse::<u16>().is_ok() =>
        {
            format!("[{host}]:{port}")
        }
        _ if authority.parse::<std::net::Ipv6Addr>().is_ok() => format!("[{authority}]"),
        _ => return text.to_owned(),
    };
    format!("{scheme}://{bracketed}{path}")
}

/// An `http` or `https` URL without a path, as `--replica-url` takes it.
fn parse_replica_url(text: &str) -> Result<String, String> {
    let text = &bracket_ipv6_host(text);
    let url = url::Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "`{text}` is not an http(s) URL with a host, such as http://10.1.2.3:8080"
        ));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(format!(
            "`{text}` has a path or query: give only scheme, host and port"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `--db`, shared by every subcommand that touches the database.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// The database: a SQLite file, created on first start [default:
    /// $XDG_DATA_HOME/lectern/lectern.db, i.e. ~/.local/share/lectern/lectern.db], or a PostgreSQL
    /// URL (`postgres://user:password@host:5432/lectern`), which several servers can share.
    #[arg(long = "db", env = "LECTERN_DB", value_name = "PATH|URL")]
    pub location: Option<Location>,
}

impl DbArgs {
    /// The configured database, or the per-user default file.
    pub fn location(&self) -> Location {
        self.location
            .clone()
            .unwrap_or_else(|| Location::Sqlite(default_db_path()))
    }
}

/// `lectern validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The course folder (the one holding course.toml).
    #[arg(default_value = ".", value_name = "DIR")]
    pub dir: PathBuf,
}

/// `$XDG_DATA_HOME/lectern/lectern.db`, falling back to `~/.local/share`, then the working directory.
fn default_db_path() -> PathBuf {
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    match data_home {
        Some(dir) => dir.join("lectern").join("lectern.db"),
        None => PathBuf::from("lectern.db"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn replica_urls_take_the_pods_ipv6_address_as_kubernetes_writes_it() {
        for (given, read) in [
            ("http://10.1.2.3:8080", "http://10.1.2.3:8080"),
            ("http://fd00::1:8080", "http://[fd00::1]:8080"),
            ("http://[fd00::1]:8080/", "http://[fd00::1]:8080"),
            ("http://2001:db8::17", "http://[2001:db8::17]"),
        ] {
            assert_eq!(parse_replica_url(given).as_deref(), Ok(read), "{given}");
        }
        for bad in ["ftp://x", "http://x/path", "10.1.2.3:8080"] {
            assert!(parse_replica_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_needs_no_flags() {
        let cli = Cli::try_parse_from(["lectern", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.addr.to_string(), "127.0.0.1:8080");
        assert!(args.content.is_none());
    }

    #[test]
    fn watch_requires_a_content_folder() {
        assert!(Cli::try_parse_from(["lectern", "serve", "--watch"]).is_err());
    }
}
