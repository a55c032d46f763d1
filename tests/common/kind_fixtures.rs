//! Objects as a real `kind` cluster has them (node and pod labels, conditions, container statuses),
//! in the states module 01's lab can leave a cluster in.

use serde_json::{Value, json};

/// `kind create cluster --name k8s-ha --config kind-ha.yaml` from step 2: three control planes, two workers.
pub fn ha_cluster() -> Vec<Value> {
    let nodes = [
        ("k8s-ha-control-plane", true, "zone-a"),
        ("k8s-ha-control-plane2", true, "zone-b"),
        ("k8s-ha-control-plane3", true, "zone-c"),
        ("k8s-ha-worker", false, "zone-a"),
        ("k8s-ha-worker2", false, "zone-b"),
    ];
    let mut objects: Vec<Value> = ["default", "kube-system", "kube-public", "kube-node-lease", "local-path-storage"]
        .iter()
        .map(|ns| json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": { "kubernetes.io/metadata.name": ns } }, "status": { "phase": "Active" } }))
        .collect();
    for (name, control_plane, zone) in nodes {
        objects.push(node(name, control_plane, Some(zone), true));
        if control_plane {
            for component in [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
            ] {
                objects.push(static_pod(component, name, true));
            }
        }
        objects.push(pod(
            "kube-system",
            &format!("kube-proxy-{}", &hash(name)[..5]),
            name,
            json!({ "k8s-app": "kube-proxy" }),
            true,
        ));
        objects.push(pod(
            "kube-system",
            &format!("kindnet-{}", &hash(name)[5..10]),
            name,
            json!({ "app": "kindnet", "k8s-app": "kindnet", "tier": "node" }),
            true,
        ));
    }
    for suffix in ["7db6d8ff4d-4x2lk", "7db6d8ff4d-vq9mh"] {
        objects.push(pod(
            "kube-system",
            &format!("coredns-{suffix}"),
            "k8s-ha-control-plane",
            json!({ "k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d" }),
            true,
        ));
    }
    objects.push(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "default", "namespace": "kube-system" } }));
    objects.push(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "coredns", "namespace": "kube-system" } }));
    objects.push(json!({ "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token", "metadata": { "name": "bootstrap-token-abcdef", "namespace": "kube-system" }, "data": { "token-secret": "c3VwZXItc2VjcmV0LXZhbHVl" } }));
    objects.push(cluster_role("cluster-admin", json!([ { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] }, { "nonResourceURLs": ["*"], "verbs": ["*"] } ])));
    objects.push(cluster_role("view", json!([ { "apiGroups": [""], "resources": ["pods", "services", "configmaps"], "verbs": ["get", "list", "watch"] } ])));
    objects.push(cluster_role_binding("cluster-admin", "cluster-admin", json!([ { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters" } ])));
    for lease in ["kube-controller-manager", "kube-scheduler"] {
        objects.push(json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": lease, "namespace": "kube-system" }, "spec": { "holderIdentity": "k8s-ha-control-plane_2c3b6f0e", "leaseDurationSeconds": 15 } }));
    }
    objects
}

/// `kind create cluster` with no configuration: one node that is both control plane and worker.
pub fn single_node_cluster() -> Vec<Value> {
    let mut objects = vec![node("kind-control-plane", true, None, true)];
    for component in [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    ] {
        objects.push(static_pod(component, "kind-control-plane", true));
    }
    objects
}

/// Step 4 done as written.
pub fn with_monitoring_rbac(mut objects: Vec<Value>) -> Vec<Value> {
    objects.push(service_account("kube-system", "control-plane-monitor"));
    objects.push(monitor_role());
    objects.push(cluster_role_binding("control-plane-monitor", "control-plane-monitor", json!([ { "kind": "ServiceAccount", "name": "control-plane-monitor", "namespace": "kube-system" } ])));
    objects
}

/// The whole lab done, cluster back to normal after step 5.
pub fn lab_done() -> Vec<Value> {
    with_monitoring_rbac(ha_cluster())
}

pub fn service_account(namespace: &str, name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": name, "namespace": namespace, "uid": "5d3c9a8e-51c6-4a3f-9b43-2c0d0b6e7a11" } })
}

pub fn monitor_role() -> Value {
    cluster_role(
        "control-plane-monitor",
        json!([ { "apiGroups": [""], "resources": ["nodes", "pods", "services"], "verbs": ["get", "list", "watch"] } ]),
    )
}

pub fn cluster_role(name: &str, rules: Value) -> Value {
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": { "name": name }, "rules": rules })
}

pub fn cluster_role_binding(name: &str, role: &str, subjects: Value) -> Value {
    json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": { "name": name }, "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role }, "subjects": subjects })
}

/// Replaces the object with this kind and name (namespace ignored) by `replacement`, or removes it.
pub fn replace(objects: &mut Vec<Value>, kind: &str, name: &str, replacement: Option<Value>) {
    let at = objects
        .iter()
        .position(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    match replacement {
        Some(object) => objects[at] = object,
        None => {
            objects.remove(at);
        }
    }
}

pub fn node(name: &str, control_plane: bool, zone: Option<&str>, ready: bool) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
    });
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
    }
    if let Some(zone) = zone {
        labels["topology.kubernetes.io/zone"] = json!(zone);
    }
    let taints = if control_plane {
        json!([ { "effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane" } ])
    } else {
        json!([])
    };
    let (status, reason, message) = if ready {
        ("True", "KubeletReady", "kubelet is posting ready status")
    } else {
        (
            "Unknown",
            "NodeStatusUnknown",
            "Kubelet stopped posting node status.",
        )
    };
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": { "name": name, "labels": labels, "annotations": { "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock" } },
        "spec": { "podCIDR": "10.244.0.0/24", "providerID": format!("kind://docker/k8s-ha/{name}"), "taints": taints },
        "status": {
            "conditions": [
                { "type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory" },
                { "type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure" },
                { "type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID" },
                { "type": "Ready", "status": status, "reason": reason, "message": message },
            ],
            "nodeInfo": { "kubeletVersion": "v1.30.0", "containerRuntimeVersion": "containerd://1.7.15", "osImage": "Debian GNU/Linux 12 (bookworm)" },
        },
    })
}

/// A kubeadm static pod: `component=<name>`, `tier=control-plane`, named after its node.
pub fn static_pod(component: &str, node: &str, ready: bool) -> Value {
    let mut pod = pod(
        "kube-system",
        &format!("{component}-{node}"),
        node,
        json!({ "component": component, "tier": "control-plane" }),
        ready,
    );
    pod["metadata"]["ownerReferences"] =
        json!([ { "apiVersion": "v1", "kind": "Node", "name": node, "controller": true } ]);
    pod
}

pub fn pod(namespace: &str, name: &str, node: &str, labels: Value, ready: bool) -> Value {
    let flag = if ready { "True" } else { "False" };
    let container = name.split('-').take(2).collect::<Vec<_>>().join("-");
    let state = if ready {
        json!({ "running": { "startedAt": "2024-06-01T10:00:00Z" } })
    } else {
        json!({ "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container" } })
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "spec": { "nodeName": node, "containers": [ { "name": container, "image": format!("registry.k8s.io/{container}:v1.30.0") } ] },
        "status": {
            "phase": "Running",
            "conditions": [
                { "type": "Initialized", "status": "True" },
                { "type": "Ready", "status": flag },
                { "type": "ContainersReady", "status": flag },
                { "type": "PodScheduled", "status": "True" },
            ],
            "containerStatuses": [ { "name": container, "ready": ready, "restartCount": if ready { 0 } else { 7 }, "state": state } ],
        },
    })
}

fn hash(text: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    format!("{h:016x}")
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                (b'b' + c as u8 - b'0') as char
            } else {
                c
            }
        })
        .collect()
}
