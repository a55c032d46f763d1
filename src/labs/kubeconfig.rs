//! Kubeconfigs are data, not programs. An admin-assigned kubeconfig may carry only inline
//! credentials; the operator's own kubeconfig may use an exec credential plugin, which Lectern runs
//! itself, off the async runtime and with a time limit, so that kube-rs never runs it inside a request.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use kube::config::{AuthInfo, Context, ExecAuthCluster, ExecConfig, Kubeconfig};
use serde::{Deserialize, Serialize};

use super::ClusterError;

/// What an assigned kubeconfig may carry, for error messages.
const DATA_ONLY: &str = "an assigned kubeconfig may carry only inline credentials (token, client-certificate-data and client-key-data, certificate-authority-data)";

/// Why a kubeconfig cannot be assigned to learners; the text is shown to the admin who tried.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// It is not a kubeconfig (the parser's reason).
    #[error("the kubeconfig cannot be read: {0}")]
    Unreadable(#[source] kube::config::KubeconfigError),
    /// It makes the server run a program, read its own files or use a proxy: each field, as
    /// written in YAML, with why.
    #[error("the kubeconfig uses {}: {DATA_ONLY}", .0.join(", "))]
    Refused(Vec<String>),
    /// No context was named and it has no current one.
    #[error("the kubeconfig has no current-context; name a context")]
    NoContext,
    /// The context named is not in it.
    #[error("the kubeconfig has no context `{0}`")]
    UnknownContext(String),
    /// The context names a cluster it does not define (or one without a server).
    #[error("context `{context}` names cluster `{cluster}`, which the kubeconfig does not define")]
    UnknownCluster {
        /// The context.
        context: String,
        /// The cluster it names.
        cluster: String,
    },
}

/// Why the operator's exec credential plugin gave no credential; logged, never shown to learners.
#[derive(Debug, thiserror::Error)]
enum ExecError {
    #[error("it names no command")]
    NoCommand,
    #[error("cannot describe the cluster to it: {0}")]
    Info(#[from] serde_json::Error),
    #[error("cannot start `{program}`: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` did not finish within {} s and was stopped", .limit.as_secs())]
    TimedOut { program: String, limit: Duration },
    #[error("`{program}` failed: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` exited with {status}: {stderr}")]
    Exited {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("`{program}` printed no ExecCredential: {source}")]
    Output {
        program: String,
        source: serde_json::Error,
    },
    #[error("`{program}` printed an ExecCredential without a token or client certificate")]
    NoCredential { program: String },
}

/// Refuses every field of an assigned kubeconfig that would make the server run a program, read one
/// of its own files, or send its traffic elsewhere; the message names each field as written in YAML.
pub(super) fn refuse_programs_and_files(kubeconfig: &Kubeconfig) -> Result<(), KubeconfigError> {
    let mut refused = Vec::new();
    for named in &kubeconfig.clusters {
        let Some(cluster) = &named.cluster else {
            continue;
        };
        let at = |field: &str| format!("clusters[{}].cluster.{field}", named.name);
        if cluster.certificate_authority.is_some() {
            refused.push(format!(
                "`{}` (a file on the server)",
                at("certificate-authority")
            ));
        }
        if cluster.proxy_url.is_some() {
            refused.push(format!(
                "`{}` (sends the credentials through another host)",
                at("proxy-url")
            ));
        }
    }
    for named in &kubeconfig.auth_infos {
        let Some(user) = &named.auth_info else {
            continue;
        };
        let on_server = "a file on the server";
        let features = [
            (user.exec.is_some(), "exec", "runs a program on the server"),
            (
                user.auth_provider.is_some(),
                "auth-provider",
                "runs a program or a token exchange on the server",
            ),
            (user.token_file.is_some(), "tokenFile", on_server),
            (
                user.client_certificate.is_some(),
                "client-certificate",
                on_server,
            ),
            (user.client_key.is_some(), "client-key", on_server),
            (
                user.username.is_some() || user.password.is_some(),
                "username/password",
                "basic authentication, removed from Kubernetes in 1.19",
            ),
        ];
        for (_, field, why) in features.into_iter().filter(|(present, _, _)| *present) {
            refused.push(format!("`users[{}].user.{field}` ({why})", named.name));
        }
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(KubeconfigError::Refused(refused))
    }
}

/// The context a connection uses: the one named, or the kubeconfig's current one.
fn context_of<'k>(kubeconfig: &'k Kubeconfig, context: Option<&str>) -> Option<&'k Context> {
    let name = context.or(kubeconfig.current_context.as_deref())?;
    kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == name)?
        .context
        .as_ref()
}

/// Runs the exec credential plugin of the operator's kubeconfig for `context`, if it has one that
/// kube-rs would use, and puts the credential it prints in its place, so kube-rs never runs it.
///
/// The plugin runs as a child process awaited on the runtime (never blocking a worker thread), is
/// killed after `limit`, and nothing it says reaches a learner: failures are logged with the command,
/// its exit status and its standard error, and answered with [`ClusterError::CredentialPlugin`].
pub(super) async fn run_exec_plugin(
    kubeconfig: &mut Kubeconfig,
    context: Option<&str>,
    limit: Duration,
) -> Result<(), ClusterError> {
    let Some(user_name) = context_of(kubeconfig, context).and_then(|c| c.user.clone()) else {
        return Ok(());
    };
    let Some(index) = kubeconfig
        .auth_infos
        .iter()
        .position(|u| u.name == user_name)
    else {
        return Ok(());
    };
    // Reading the cluster's CA (possibly a file) only for a plugin that asks for it.
    let wants_cluster_info = kubeconfig.auth_infos[index]
        .auth_info
        .as_ref()
        .and_then(|u| u.exec.as_ref())
        .is_some_and(|exec| exec.provide_cluster_info);
    let cluster_info = wants_cluster_info
        .then(|| cluster_info(kubeconfig, context))
        .flatten();
    let Some(user) = kubeconfig.auth_infos[index].auth_info.as_mut() else {
        return Ok(());
    };
    if user.auth_provider.as_ref().is_some_and(|p| p.name == "gcp") {
        return Err(ClusterError::Config(
            "the kubeconfig's auth-provider `gcp` runs gcloud inside the server; kubectl dropped it in Kubernetes 1.26: use gke-gcloud-auth-plugin, an exec plugin".to_owned(),
        ));
    }
    let uses_exec =
        user.token.is_none() && user.token_file.is_none() && user.auth_provider.is_none();
    let Some(exec) = user.exec.take().filter(|_| uses_exec) else {
        return Ok(());
    };
    let credential = execute(&exec, cluster_info, limit).await.map_err(|cause| {
        tracing::error!(
            command = exec.command.as_deref().unwrap_or(""),
            "the kubeconfig's exec credential plugin failed: {cause}"
        );
        ClusterError::CredentialPlugin
    })?;
    apply(user, credential);
    Ok(())
}

/// What the plugin is told about the cluster when its config asks for it (`provideClusterInfo`).
fn cluster_info(kubeconfig: &Kubeconfig, context: Option<&str>) -> Option<ExecAuthCluster> {
    let cluster_name = &context_of(kubeconfig, context)?.cluster;
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| &c.name == cluster_name)?
        .cluster
        .as_ref()?;
    ExecAuthCluster::try_from(cluster).ok()
}

/// The `ExecCredential` a plugin prints (client.authentication.k8s.io).
#[derive(Debug, Serialize, Deserialize)]
struct ExecCredential {
    #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    api_version: Option<String>,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spec: Option<ExecCredentialSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<ExecCredentialStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExecCredentialSpec {
    interactive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<ExecAuthCluster>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ExecCredentialStatus {
    token: Option<String>,
    #[serde(rename = "clientCertificateData")]
    client_certificate_data: Option<String>,
    #[serde(rename = "clientKeyData")]
    client_key_data: Option<String>,
}

/// Runs the plugin as client-go does for a non-interactive caller; the error is for the log only.
async fn execute(
    exec: &ExecConfig,
    cluster: Option<ExecAuthCluster>,
    limit: Duration,
) -> Result<ExecCredentialStatus, ExecError> {
    let program = exec.command.clone().ok_or(ExecError::NoCommand)?;
    let info = ExecCredential {
        api_version: exec.api_version.clone(),
        kind: "ExecCredential".to_owned(),
        spec: Some(ExecCredentialSpec {
            interactive: false,
            cluster,
        }),
        status: None,
    };
    let mut command = tokio::process::Command::new(&program);
    command
        .args(exec.args.iter().flatten())
        .envs(plugin_env(exec))
        .env("KUBERNETES_EXEC_INFO", serde_json::to_string(&info)?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for name in exec.drop_env.iter().flatten() {
        command.env_remove(name);
    }
    let child = command.spawn().map_err(|source| ExecError::Start {
        program: program.clone(),
        source,
    })?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| ExecError::TimedOut {
            program: program.clone(),
            limit,
        })?
        .map_err(|source| ExecError::Wait {
            program: program.clone(),
            source,
        })?;
    if !output.status.success() {
        return Err(ExecError::Exited {
            program,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    let credential: ExecCredential =
        serde_json::from_slice(&output.stdout).map_err(|source| ExecError::Output {
            program: program.clone(),
            source,
        })?;
    credential
        .status
        .filter(|s| {
            s.token.is_some()
                || (s.client_certificate_data.is_some() && s.client_key_data.is_some())
        })
        .ok_or(ExecError::NoCredential { program })
}

fn plugin_env(exec: &ExecConfig) -> HashMap<String, String> {
    exec.env
        .iter()
        .flatten()
        .filter_map(|pair| Some((pair.get("name")?.clone(), pair.get("value")?.clone())))
        .collect()
}

/// Puts the plugin's credential where an inline one would be (kubeconfigs carry certificate data
/// base64-encoded; plugins print PEM).
fn apply(user: &mut AuthInfo, credential: ExecCredentialStatus) {
    use base64::Engine;
    let encode = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    if let Some(token) = credential.token {
        user.token = Some(token.into());
    }
    if let (Some(cert), Some(key)) = (
        credential.client_certificate_data,
        credential.client_key_data,
    ) {
        user.client_certificate_data = Some(encode(cert));
        user.client_key_data = Some(encode(key).into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(yaml).unwrap()
    }

    #[test]
    fn inline_credentials_are_accepted() {
        let kubeconfig = parse(
            "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: Zm9v\n\
             users:\n- name: u\n  user:\n    token: abc\n    client-certificate-data: Zm9v\n    client-key-data: Zm9v\n",
        );
        assert!(refuse_programs_and_files(&kubeconfig).is_ok());
    }

    #[test]
    fn programs_files_and_proxies_are_refused_by_name() {
        let kubeconfig = parse(
            "clusters:\n- name: c\n  cluster:\n    server: https://x\n    certificate-authority: /etc/ca.crt\n    proxy-url: http://p\n\
             users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: sh\n\
             \x20   tokenFile: /etc/shadow\n    client-key: /k\n",
        );
        let error = refuse_programs_and_files(&kubeconfig)
            .unwrap_err()
            .to_string();
        for field in [
            "clusters[c].cluster.certificate-authority",
            "clusters[c].cluster.proxy-url",
            "users[u].user.exec",
            "users[u].user.tokenFile",
            "users[u].user.client-key",
        ] {
            assert!(error.contains(&format!("`{field}`")), "{field}: {error}");
        }
    }
}
