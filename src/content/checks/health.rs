//! `check = "health"`: the API server's own health endpoint, optionally with named checks.

use super::{CheckToml, Parsing};

/// The keys a health check reads.
pub(super) const KEYS: &[&str] = &["endpoint", "checks"];

/// The API server's own health endpoint, optionally requiring named individual checks.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    /// Which endpoint.
    pub endpoint: HealthEndpoint,
    /// Individual checks (from `?verbose`) that must pass, e.g. `etcd`.
    pub checks: Vec<String>,
}

/// `/livez` or `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEndpoint {
    /// Is the API server process alive.
    Livez,
    /// Is it ready to serve, including its storage.
    Readyz,
}

impl HealthEndpoint {
    /// The URL path.
    pub fn path(self) -> &'static str {
        match self {
            HealthEndpoint::Livez => "/livez",
            HealthEndpoint::Readyz => "/readyz",
        }
    }
}

/// Validates a health check's keys.
pub(super) fn parse(toml: CheckToml, cx: &mut Parsing<'_>) -> Option<HealthCheck> {
    let endpoint = match toml
        .endpoint
        .as_ref()
        .map(|e| (e.span().start, e.get_ref().as_str()))
    {
        Some((_, "livez")) => Some(HealthEndpoint::Livez),
        Some((_, "readyz")) | None => Some(HealthEndpoint::Readyz),
        Some((span, other)) => {
            cx.errors.push((
                span,
                format!("unknown health endpoint `{other}`: use \"livez\" or \"readyz\""),
            ));
            None
        }
    };
    Some(HealthCheck {
        endpoint: endpoint?,
        checks: toml.checks,
    })
}
