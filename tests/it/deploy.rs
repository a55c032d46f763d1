//! `deploy/`: the Kubernetes manifests validate against the Kubernetes schemas offline (the
//! `kubernetes-validate` package bundles them), hold together (selectors, ports, probes, security
//! context), and the container build file passes hadolint. `.ci/install-test-deps` installs both
//! tools in `.ci/venv`; without them these tests are skipped, except under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

/// The oldest Kubernetes the course supports, and the newest the validator knows.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.34.0", "1.37.0"];

/// The two kustomizations: one replica on SQLite, several on PostgreSQL.
const DEPLOYMENTS: [&str; 2] = ["deploy/kubernetes/sqlite", "deploy/kubernetes/postgres"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A validator from `.ci/venv`, or `None` (and the test is skipped) outside CI.
fn tool(name: &str) -> Option<PathBuf> {
    let path = root().join(".ci/venv/bin").join(name);
    if path.exists() {
        return Some(path);
    }
    let message = format!("{name} is not installed: run .ci/install-test-deps");
    assert!(std::env::var("CI").is_err(), "{message}");
    eprintln!("skipping: {message}");
    None
}

/// The files a kustomization lists, following directories into their own kustomizations.
fn resources(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let kustomization: Value = serde_yaml::from_str(&text).unwrap();
    let mut files = Vec::new();
    for entry in kustomization["resources"].as_sequence().unwrap() {
        let path = dir.join(entry.as_str().unwrap());
        if path.is_dir() {
            files.extend(resources(&path));
        } else {
            assert!(path.exists(), "{} lists {}", dir.display(), path.display());
            files.push(path);
        }
    }
    files
}

/// Every document of a deployment, by kind and name.
fn documents(dir: &Path) -> Vec<Value> {
    resources(dir)
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            serde_yaml::Deserializer::from_str(&text)
                .map(|doc| <Value as serde::Deserialize>::deserialize(doc).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn the_manifests_validate_against_the_kubernetes_schemas() {
    let Some(validate) = tool("kubernetes-validate") else {
        return;
    };
    for deployment in DEPLOYMENTS {
        let files = resources(&root().join(deployment));
        for version in KUBERNETES_VERSIONS {
            let output = Command::new(&validate)
                .args(["--strict", "-k", version])
                .args(&files)
                .output()
                .unwrap();
            let report = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            assert!(
                output.status.success(),
                "{deployment}, Kubernetes {version}:\n{report}"
            );
            assert!(
                !report.contains("Couldn't find schema"),
                "every kind is checked against {version}:\n{report}"
            );
            let passed = report.matches(" passed for resource ").count();
            assert_eq!(
                passed,
                documents(&root().join(deployment)).len(),
                "{report}"
            );
        }
    }
}

/// What both deployments must have: selectors, ports, probes, the security context, the RBAC.
fn holds_together(docs: &[Value]) {
    let deployment = find(docs, "Deployment", "lectern");
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], *labels);
    let service_account = pod["spec"]["serviceAccountName"].as_str().unwrap();
    find(docs, "ServiceAccount", service_account);
    let binding = find(docs, "ClusterRoleBinding", "lectern-lab-checks");
    assert_eq!(binding["subjects"][0]["name"], service_account);

    let container = &pod["spec"]["containers"][0];
    let ports: Vec<&str> = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for service in ["lectern", "lectern-metrics"] {
        let service = find(docs, "Service", service);
        for (key, value) in service["spec"]["selector"].as_mapping().unwrap() {
            assert_eq!(&labels[key], value, "the Service selects the pods");
        }
        let target = service["spec"]["ports"][0]["targetPort"].as_str().unwrap();
        assert!(ports.contains(&target), "{target} is a container port");
    }
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    // /readyz waits up to 2 s for the database; the probe reads its answer rather than time out.
    assert!(
        container["readinessProbe"]["timeoutSeconds"]
            .as_u64()
            .unwrap()
            > 2
    );
    // Behind the Ingress, clients are told apart by the proxy's X-Forwarded-For.
    assert!(
        env(container, "LECTERN_TRUSTED_PROXIES")["value"]
            .as_str()
            .unwrap()
            .contains("10.0.0.0/8")
    );
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn env<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn the_sqlite_manifests_hold_together() {
    let docs = documents(&root().join("deploy/kubernetes/sqlite"));
    holds_together(&docs);
    let deployment = find(&docs, "Deployment", "lectern");
    assert_eq!(
        deployment["spec"]["replicas"], 1,
        "one process owns a SQLite file"
    );
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let container = container(deployment);

    // The database is on the volume, the only writable place besides /tmp.
    let db = env(container, "LECTERN_DB")["value"].as_str().unwrap();
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert!(
        mounts.iter().any(|m| db.starts_with(&format!("{m}/"))),
        "{db} is on a volume: {mounts:?}"
    );

    // The RBAC is the one static/manifests gives people, word for word.
    assert_eq!(
        std::fs::read_to_string(root().join("deploy/kubernetes/base/lectern-rbac.yaml")).unwrap(),
        std::fs::read_to_string(root().join("static/manifests/lectern-rbac.yaml")).unwrap()
    );

    // The ServiceMonitor example scrapes the metrics Service's port.
    let text =
        std::fs::read_to_string(root().join("deploy/kubernetes/examples/servicemonitor.yaml"))
            .unwrap();
    let monitor: Value = serde_yaml::from_str(&text).unwrap();
    let metrics = find(&docs, "Service", "lectern-metrics");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&metrics["metadata"]["labels"][key], value);
    }
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        metrics["spec"]["ports"][0]["name"]
    );
}

#[test]
fn the_postgresql_manifests_hold_together() {
    let docs = documents(&root().join("deploy/kubernetes/postgres"));
    holds_together(&docs);
    let deployment = find(&docs, "Deployment", "lectern");
    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    assert_eq!(spec["strategy"]["type"], "RollingUpdate");
    assert_eq!(
        spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
        "a new replica is ready before an old one goes"
    );
    let pod = &spec["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .all(|v| v["persistentVolumeClaim"].is_null()),
        "no replica owns a volume"
    );

    // The disruption budget keeps one replica through a node drain.
    let budget = find(&docs, "PodDisruptionBudget", "lectern");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        spec["template"]["metadata"]["labels"]
    );
    assert_eq!(budget["spec"]["minAvailable"], 1);

    // The database URL is the Secret CloudNativePG makes for the example cluster.
    let container = container(deployment);
    let secret = &env(container, "DB_URI")["valueFrom"]["secretKeyRef"];
    let text =
        std::fs::read_to_string(root().join("deploy/kubernetes/examples/cloudnativepg.yaml"))
            .unwrap();
    let cluster: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        secret["name"].as_str().unwrap(),
        format!("{}-app", cluster["metadata"]["name"].as_str().unwrap())
    );
    assert_eq!(secret["key"], "uri");
    // …with TLS verified against CloudNativePG's CA, mounted from its Secret.
    let db = env(container, "LECTERN_DB")["value"].as_str().unwrap();
    assert!(
        db.starts_with("$(DB_URI)?sslmode=verify-full&sslrootcert=/etc/lectern/db-ca/"),
        "{db}"
    );
    let volumes = pod["volumes"].as_sequence().unwrap();
    assert!(volumes.iter().any(|v| v["secret"]["secretName"]
        == format!("{}-ca", cluster["metadata"]["name"].as_str().unwrap()).as_str()));

    // Replicas reach each other on the pod's address and the web port.
    assert_eq!(
        env(container, "POD_IP")["valueFrom"]["fieldRef"]["fieldPath"],
        "status.podIP"
    );
    let port = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert_eq!(container["ports"][0]["name"], "http");
    assert_eq!(
        env(container, "LECTERN_REPLICA_URL")["value"],
        format!("http://$(POD_IP):{port}").as_str()
    );

    // The drain outlasts the readiness probe's notice, and the grace period outlasts the drain.
    let drain: u64 = env(container, "LECTERN_DRAIN_SECONDS")["value"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let readiness = &container["readinessProbe"];
    let noticed = readiness["periodSeconds"].as_u64().unwrap()
        * readiness["failureThreshold"].as_u64().unwrap();
    assert!(
        noticed + 5 <= drain,
        "{noticed} s to notice, {drain} s drain"
    );
    // Requests still in flight at the drain's end may take the request timeout (30 s), and SIGKILL
    // must not meet them: a margin over drain plus request timeout.
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= drain + 30 + 5);
}

#[test]
fn the_container_build_file_passes_hadolint() {
    let Some(hadolint) = tool("hadolint") else {
        return;
    };
    let output = Command::new(hadolint)
        .args(["--no-color", "--failure-threshold", "info"])
        .arg(root().join("deploy/Containerfile"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
