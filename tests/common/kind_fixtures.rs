//! Objects as a real `kind` cluster has them (node and pod labels, conditions, container statuses),
//! in the states module 01's lab can leave a cluster in.

use serde_json::{Value, json};

/// The namespaces of a new kind cluster.
fn kind_namespaces() -> Vec<Value> {
    [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "local-path-storage",
    ]
    .iter()
    .map(|ns| namespace(ns))
    .collect()
}

/// The nodes of kind-ha.yaml: name, control plane, zone.
pub const HA_NODES: [(&str, bool, &str); 5] = [
    ("k8s-ha-control-plane", true, "zone-a"),
    ("k8s-ha-control-plane2", true, "zone-b"),
    ("k8s-ha-control-plane3", true, "zone-c"),
    ("k8s-ha-worker", false, "zone-a"),
    ("k8s-ha-worker2", false, "zone-b"),
];

/// The control-plane components kubeadm runs as static pods.
pub const COMPONENTS: [&str; 4] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// `kind create cluster --name k8s-ha --config kind-ha.yaml --image kindest/node:v1.36.1@…` from
/// step 2: three control planes, two workers, and the events and Leases a new cluster has.
pub fn ha_cluster() -> Vec<Value> {
    let mut objects = kind_namespaces();
    for (i, (name, control_plane, zone)) in HA_NODES.into_iter().enumerate() {
        objects.push(node(name, control_plane, Some(zone), true));
        if control_plane {
            for component in COMPONENTS {
                objects.push(static_pod(
                    component,
                    name,
                    &format!("172.18.0.{}", i + 3),
                    true,
                ));
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
        objects.push(event(
            "default",
            "Node",
            name,
            "RegisteredNode",
            &format!("Node {name} event: Registered Node {name} in Controller"),
            "node-controller",
        ));
        let mut ready = node_status_event(name, "NodeReady", "kubelet");
        // Recorded as the cluster was created, long before any step that looks for a return.
        ready["firstTimestamp"] = json!("2026-11-25T09:00:30Z");
        ready["lastTimestamp"] = json!("2026-11-25T09:00:30Z");
        objects.push(ready);
    }
    for suffix in ["7db6d8ff4d-4x2lk", "7db6d8ff4d-vq9mh"] {
        let name = format!("coredns-{suffix}");
        objects.push(pod(
            "kube-system",
            &name,
            "k8s-ha-control-plane",
            json!({ "k8s-app": "kube-dns", "pod-template-hash": "7db6d8ff4d" }),
            true,
        ));
        objects.push(scheduler_event(
            "kube-system",
            &name,
            "Scheduled",
            &format!("Successfully assigned kube-system/{name} to k8s-ha-control-plane"),
        ));
    }
    objects.push(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "default", "namespace": "kube-system" } }));
    objects.push(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "coredns", "namespace": "kube-system" } }));
    objects.push(json!({ "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token", "metadata": { "name": "bootstrap-token-abcdef", "namespace": "kube-system" }, "data": { "token-secret": "c3VwZXItc2VjcmV0LXZhbHVl" } }));
    objects.push(cluster_role("cluster-admin", json!([ { "apiGroups": ["*"], "resources": ["*"], "verbs": ["*"] }, { "nonResourceURLs": ["*"], "verbs": ["*"] } ])));
    objects.push(cluster_role("view", json!([ { "apiGroups": [""], "resources": ["pods", "services", "configmaps"], "verbs": ["get", "list", "watch"] } ])));
    objects.push(cluster_role("system:monitoring", json!([ { "nonResourceURLs": ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"], "verbs": ["get"] } ])));
    objects.push(cluster_role_binding("cluster-admin", "cluster-admin", json!([ { "apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters" } ])));
    for lease in ["kube-controller-manager", "kube-scheduler"] {
        objects.push(json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": lease, "namespace": "kube-system" }, "spec": { "holderIdentity": "k8s-ha-control-plane_2c3b6f0e-8d7a-4a57-9b1e-0d6c7f5a9e21", "leaseDurationSeconds": 15, "leaseTransitions": 0, "acquireTime": "2026-11-25T09:00:05.000000Z", "renewTime": "2026-11-25T10:00:00.000000Z" } }));
        objects.push(event(
            "kube-system",
            "Lease",
            lease,
            "LeaderElection",
            "k8s-ha-control-plane_2c3b6f0e-8d7a-4a57-9b1e-0d6c7f5a9e21 became leader",
            lease,
        ));
    }
    objects
}

/// `kind create cluster` with no configuration (or `--name solo`): one node that is both control
/// plane and worker. kind removes the control-plane taint and the
/// `node.kubernetes.io/exclude-from-external-load-balancers` label when a cluster has one node.
pub fn single_node_cluster(name: &str) -> Vec<Value> {
    let node_name = format!("{name}-control-plane");
    let mut single = node(&node_name, true, None, true);
    single["spec"]["taints"] = json!([]);
    single["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove("node.kubernetes.io/exclude-from-external-load-balancers");
    let mut objects = kind_namespaces();
    objects.push(single);
    for component in COMPONENTS {
        objects.push(static_pod(component, &node_name, "172.18.0.9", true));
    }
    objects
}

/// Step 4 done as written.
pub fn with_monitoring_rbac(mut objects: Vec<Value>) -> Vec<Value> {
    objects.push(namespace("monitoring"));
    objects.push(service_account("monitoring", "control-plane-monitor"));
    objects.push(monitor_role());
    objects.push(cluster_role_binding("control-plane-monitor", "control-plane-monitor", json!([ { "kind": "ServiceAccount", "name": "control-plane-monitor", "namespace": "monitoring" } ])));
    objects
}

/// The whole lab done up to the drill, and the cluster back to normal after it (steps 2 to 6).
pub fn lab_done() -> Vec<Value> {
    let mut objects = with_monitoring_rbac(ha_cluster());
    pause_node(&mut objects, "k8s-ha-control-plane");
    create_probe(&mut objects);
    unpause_node(&mut objects, "k8s-ha-control-plane");
    objects
}

/// `docker pause <node>`, about a minute later: the node lifecycle controller has marked the node
/// `Unknown`, tainted it unreachable, marked its pods not Ready (their containers' last reported
/// state is unchanged) and recorded NodeNotReady; Leases held there have moved to another
/// control-plane node.
pub fn pause_node(objects: &mut Vec<Value>, name: &str) {
    set_node_ready(objects, name, false);
    record_event(
        objects,
        node_status_event(name, "NodeNotReady", "node-controller"),
    );
    let successor = HA_NODES
        .iter()
        .find(|(n, cp, _)| *cp && *n != name)
        .map(|(n, _, _)| *n)
        .unwrap();
    let mut elections = Vec::new();
    for lease in objects.iter_mut().filter(|o| o["kind"] == "Lease") {
        let held_here = lease["spec"]["holderIdentity"]
            .as_str()
            .is_some_and(|h| h.starts_with(&format!("{name}_")));
        if held_here {
            let holder = format!("{successor}_9a1f3c2e-4b5d-4e6f-8a7b-1c2d3e4f5a6b");
            lease["spec"]["holderIdentity"] = json!(holder);
            let transitions = lease["spec"]["leaseTransitions"].as_u64().unwrap_or(0);
            lease["spec"]["leaseTransitions"] = json!(transitions + 1);
            elections.push((
                lease["metadata"]["name"].as_str().unwrap().to_owned(),
                holder,
            ));
        }
    }
    for (lease, holder) in elections {
        objects.push(event(
            "kube-system",
            "Lease",
            &lease,
            "LeaderElection",
            &format!("{holder} became leader"),
            &lease,
        ));
    }
}

/// `docker unpause <node>` (or the kubelet started again), a minute later: Ready again, taints
/// gone, pods Ready, and the kubelet's NodeReady event (it found the node marked not Ready: its
/// `ReadyCondition` setter records one on every change of status). Leases stay where they moved;
/// events stay for an hour.
pub fn unpause_node(objects: &mut Vec<Value>, name: &str) {
    set_node_ready(objects, name, true);
    record_event(objects, node_status_event(name, "NodeReady", "kubelet"));
}

/// "Node NAME status is now: STATUS", as the node controller (NodeNotReady) and the kubelet
/// (NodeReady, NodeNotReady) record it.
fn node_status_event(name: &str, status: &str, component: &str) -> Value {
    event(
        "default",
        "Node",
        name,
        status,
        &format!("Node {name} status is now: {status}"),
        component,
    )
}

/// Records an event as client-go's recorder does: the same event again (same object, reason and
/// message) updates the one there, its `count` up by one and its `lastTimestamp` new (the API
/// double stamps it).
pub fn record_event(objects: &mut Vec<Value>, event: Value) {
    let same = objects
        .iter_mut()
        .find(|o| o["kind"] == "Event" && o["metadata"]["name"] == event["metadata"]["name"]);
    match same {
        Some(earlier) => {
            earlier["count"] = json!(earlier["count"].as_u64().unwrap_or(1) + 1);
            earlier["lastTimestamp"] = Value::Null;
        }
        None => objects.push(event),
    }
}

/// Marks a node and the pods on it as the node lifecycle controller and the kubelet do.
pub fn set_node_ready(objects: &mut [Value], name: &str, ready: bool) {
    for object in objects.iter_mut() {
        if object["kind"] == "Node" && object["metadata"]["name"] == name {
            let conditions = object["status"]["conditions"].as_array_mut().unwrap();
            for condition in conditions.iter_mut() {
                let (status, reason, message) = match (condition["type"].as_str().unwrap(), ready) {
                    ("Ready", true) => ("True", "KubeletReady", "kubelet is posting ready status"),
                    (_, true) => ("False", condition["reason"].as_str().unwrap_or(""), ""),
                    (_, false) => (
                        "Unknown",
                        "NodeStatusUnknown",
                        "Kubelet stopped posting node status.",
                    ),
                };
                let (reason, message) = (reason.to_owned(), message.to_owned());
                condition["status"] = json!(status);
                condition["reason"] = json!(reason);
                condition["message"] = json!(message);
            }
            let mut taints: Vec<Value> = object["spec"]["taints"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|t| t["key"] != "node.kubernetes.io/unreachable")
                .collect();
            if !ready {
                taints.push(json!({ "key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": "2026-11-25T10:01:00Z" }));
                taints.push(json!({ "key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": "2026-11-25T10:01:05Z" }));
            }
            object["spec"]["taints"] = json!(taints);
        }
        if object["kind"] == "Pod" && object["spec"]["nodeName"] == name {
            for condition in object["status"]["conditions"].as_array_mut().unwrap() {
                if condition["type"] == "Ready" {
                    condition["status"] = json!(if ready { "True" } else { "False" });
                }
            }
        }
    }
}

pub fn service_account(namespace: &str, name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": name, "namespace": namespace, "uid": "5d3c9a8e-51c6-4a3f-9b43-2c0d0b6e7a11" } })
}

pub fn monitor_role() -> Value {
    cluster_role(
        "control-plane-monitor",
        json!([
            { "apiGroups": [""], "resources": ["nodes", "pods", "services"], "verbs": ["get", "list", "watch"] },
            { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "list", "watch"] },
            { "nonResourceURLs": ["/metrics"], "verbs": ["get"] },
        ]),
    )
}

pub fn namespace(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name, "labels": { "kubernetes.io/metadata.name": name } }, "status": { "phase": "Active" } })
}

/// An event as a core/v1 recorder writes it (the node controller, the kubelet, leader election):
/// `source.component` and `lastTimestamp`, which the API double stamps with the time it is
/// written (see `ClusterState::replace`). Events about cluster-scoped objects live in `default`.
pub fn event(
    namespace: &str,
    kind: &str,
    name: &str,
    reason: &str,
    message: &str,
    component: &str,
) -> Value {
    let id = hash(&format!("{kind}{name}{reason}{message}"));
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": { "name": format!("{name}.{}", &id[..16]), "namespace": namespace },
        "involvedObject": { "kind": kind, "name": name, "namespace": if kind == "Node" { "" } else { namespace }, "apiVersion": if kind == "Lease" { "coordination.k8s.io/v1" } else { "v1" } },
        "reason": reason, "message": message, "type": "Normal", "count": 1,
        "source": { "component": component },
        "firstTimestamp": null, "lastTimestamp": null,
    })
}

/// An event as the scheduler writes it, through the events.k8s.io/v1 API: seen through core/v1 it
/// has `eventTime` (stamped when written, as `lastTimestamp` is) and `reportingComponent`, and no
/// `lastTimestamp` or `source`.
pub fn scheduler_event(namespace: &str, pod: &str, reason: &str, message: &str) -> Value {
    let id = hash(&format!("{pod}{reason}{message}"));
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": { "name": format!("{pod}.{}", &id[..16]), "namespace": namespace },
        "involvedObject": { "kind": "Pod", "name": pod, "namespace": namespace, "apiVersion": "v1" },
        "reason": reason, "message": message, "type": if reason == "Scheduled" { "Normal" } else { "Warning" },
        "eventTime": null, "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-k8s-ha-control-plane2",
        "action": if reason == "Scheduled" { "Binding" } else { "Scheduling" }, "source": {},
    })
}

/// A Deployment's status as the Deployment controller writes it; `readyReplicas` is omitted at 0.
pub fn deployment(namespace: &str, name: &str, replicas: u32, ready: u32) -> Value {
    let mut status =
        json!({ "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas });
    if ready > 0 {
        status["readyReplicas"] = json!(ready);
        status["availableReplicas"] = json!(ready);
    } else {
        status["unavailableReplicas"] = json!(replicas);
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": name }, "generation": 1 },
        "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": name } }, "template": { "metadata": { "labels": { "app": name } }, "spec": { "containers": [ { "name": "pause", "image": "registry.k8s.io/pause:3.10.1" } ] } } },
        "status": status,
    })
}

/// Step 5's `kubectl create deployment probe --replicas=2`, scheduled on the workers and running.
pub fn create_probe(objects: &mut Vec<Value>) {
    objects.push(deployment("default", "probe", 2, 2));
    for (suffix, node) in [
        ("6d4cf56db6-2xkqp", "k8s-ha-worker"),
        ("6d4cf56db6-h8zv7", "k8s-ha-worker2"),
    ] {
        let name = format!("probe-{suffix}");
        objects.push(pod(
            "default",
            &name,
            node,
            json!({ "app": "probe", "pod-template-hash": "6d4cf56db6" }),
            true,
        ));
        objects.push(scheduler_event(
            "default",
            &name,
            "Scheduled",
            &format!("Successfully assigned default/{name} to {node}"),
        ));
    }
}

/// Step 7's solo cluster as the snapshot takes it: one node (its kubelet renewing its node Lease
/// every 10 s), the namespace and ConfigMap created before the snapshot.
pub fn solo_before_snapshot() -> Vec<Value> {
    let mut objects = single_node_cluster("solo");
    objects.push(node_lease(
        "solo-control-plane",
        "2026-11-25T10:00:00.000000Z",
    ));
    objects.push(namespace("before-snapshot"));
    objects.push(configmap("before-snapshot", "marker", "before"));
    objects
}

/// Step 7 with the snapshot taken but the restore not (or not really) done.
pub fn solo_not_restored() -> Vec<Value> {
    let mut objects = solo_before_snapshot();
    objects.push(namespace("after-snapshot"));
    objects.push(configmap("after-snapshot", "marker", "after"));
    objects
}

/// Step 7 done: the snapshot's objects back, and the kubelet's node Lease renewed since (after a
/// real restore, with a resourceVersion past the bumped revision: see `FakeCluster::restore`).
pub fn solo_restored() -> Vec<Value> {
    let mut objects = solo_before_snapshot();
    for lease in objects.iter_mut().filter(|o| o["kind"] == "Lease") {
        lease["spec"]["renewTime"] = json!("2026-11-25T11:30:00.000000Z");
    }
    objects
}

/// Step 7's restore, done on the solo double as the step does it: the snapshot's objects back and
/// the revision bumped by a billion (`--bump-revision 1000000000 --mark-compacted`), then the
/// kubelet's node Lease renewed, the first write past the bump.
pub fn restore_solo(solo: &super::kube_api::FakeCluster) {
    solo.restore(solo_before_snapshot(), 1_000_000_000);
    solo.set_objects(solo_restored());
}

/// A kubelet's node heartbeat (`kube-node-lease/<node>`), renewed every 10 s.
pub fn node_lease(node: &str, renewed: &str) -> Value {
    json!({ "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": { "name": node, "namespace": "kube-node-lease" }, "spec": { "holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": renewed } })
}

pub fn configmap(namespace: &str, name: &str, taken: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name, "namespace": namespace }, "data": { "taken": taken } })
}

/// Step 8's setup: every kube-scheduler manifest moved aside (the kubelets delete the mirror pods),
/// then Deployment troubleshoot/web created. Its pods are Pending with no node, no conditions and
/// no events: nothing tries to schedule them.
pub fn schedulers_parked(objects: &mut Vec<Value>) {
    objects.retain(|o| {
        !(o["kind"] == "Pod" && o["metadata"]["labels"]["component"] == "kube-scheduler")
    });
    objects.push(namespace("troubleshoot"));
    objects.push(deployment("troubleshoot", "web", 2, 0));
    for suffix in WEB_PODS {
        objects.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": format!("web-{suffix}"), "namespace": "troubleshoot", "labels": { "app": "web", "pod-template-hash": "5c9f8d7b6" } },
            "spec": { "schedulerName": "default-scheduler", "containers": [ { "name": "pause", "image": "registry.k8s.io/pause:3.10.1" } ] },
            "status": { "phase": "Pending", "qosClass": "BestEffort" },
        }));
    }
}

const WEB_PODS: [&str; 2] = ["5c9f8d7b6-7kq2m", "5c9f8d7b6-x9wzt"];

/// Step 8 repaired: the manifests are back, a scheduler took the Lease and placed web's pods.
pub fn schedulers_back(objects: &mut Vec<Value>) {
    for (i, (node, cp, _)) in HA_NODES.into_iter().enumerate() {
        if cp {
            objects.push(static_pod(
                "kube-scheduler",
                node,
                &format!("172.18.0.{}", i + 3),
                true,
            ));
        }
    }
    replace(
        objects,
        "Deployment",
        "web",
        Some(deployment("troubleshoot", "web", 2, 2)),
    );
    for (suffix, node) in WEB_PODS
        .into_iter()
        .zip(["k8s-ha-worker", "k8s-ha-worker2"])
    {
        let name = format!("web-{suffix}");
        replace(
            objects,
            "Pod",
            &name,
            Some(pod(
                "troubleshoot",
                &name,
                node,
                json!({ "app": "web", "pod-template-hash": "5c9f8d7b6" }),
                true,
            )),
        );
        objects.push(scheduler_event(
            "troubleshoot",
            &name,
            "Scheduled",
            &format!("Successfully assigned troubleshoot/{name} to {node}"),
        ));
    }
}

/// Step 9's setup, a minute later: the API server on k8s-ha-control-plane3 crash-loops on
/// `--authorization-mode=Node,RABC`. That node's kubelet talks only to its own API server
/// (kubeadm's ControlPlaneKubeletLocalMode for joined control planes), so it cannot report: the
/// node is `Unknown` and its mirror pods, whose spec the kubelet could not update, are not Ready.
/// With `kubelet_via_load_balancer`, as on the first control-plane node, the kubelet can report:
/// the node stays Ready and the mirror pod shows the broken flag and a crash-looping container.
pub fn api_server_broken(objects: &mut Vec<Value>, kubelet_via_load_balancer: bool) {
    let node = "k8s-ha-control-plane3";
    if kubelet_via_load_balancer {
        let mut broken = static_pod("kube-apiserver", node, "172.18.0.5", false);
        for arg in broken["spec"]["containers"][0]["command"]
            .as_array_mut()
            .unwrap()
        {
            if arg == "--authorization-mode=Node,RBAC" {
                *arg = json!("--authorization-mode=Node,RABC");
            }
        }
        replace(
            objects,
            "Pod",
            &format!("kube-apiserver-{node}"),
            Some(broken),
        );
    } else {
        pause_node(objects, node);
    }
}

/// Step 9 repaired: the manifest fixed, the API server Ready, the node reporting again.
pub fn api_server_fixed(objects: &mut Vec<Value>) {
    let node = "k8s-ha-control-plane3";
    replace(
        objects,
        "Pod",
        &format!("kube-apiserver-{node}"),
        Some(static_pod("kube-apiserver", node, "172.18.0.5", true)),
    );
    unpause_node(objects, node);
}

/// The `--authorization-mode` of k8s-ha-control-plane3's API server, as its mirror pod shows it.
pub fn set_authorization_mode(objects: &mut [Value], mode: &str) {
    let name = "kube-apiserver-k8s-ha-control-plane3";
    for pod in objects
        .iter_mut()
        .filter(|o| o["kind"] == "Pod" && o["metadata"]["name"] == name)
    {
        for arg in pod["spec"]["containers"][0]["command"]
            .as_array_mut()
            .unwrap()
        {
            if arg
                .as_str()
                .is_some_and(|a| a.starts_with("--authorization-mode="))
            {
                *arg = json!(format!("--authorization-mode={mode}"));
            }
        }
    }
}

/// Step 10's setup (`systemctl disable --now kubelet` on k8s-ha-worker2), a minute later.
pub fn kubelet_stopped(objects: &mut Vec<Value>) {
    pause_node(objects, "k8s-ha-worker2");
}

/// Step 10 repaired: the kubelet enabled and started.
pub fn kubelet_started(objects: &mut Vec<Value>) {
    unpause_node(objects, "k8s-ha-worker2");
    objects.push(event(
        "default",
        "Node",
        "k8s-ha-worker2",
        "Starting",
        "Starting kubelet.",
        "kubelet",
    ));
}

/// Step 11 done: the config-reader Role and binding in `practice`, and the too-big pod the
/// scheduler could not place.
pub fn practice_rbac_and_scheduling(objects: &mut Vec<Value>) {
    objects.push(namespace("practice"));
    objects.push(service_account("practice", "config-reader"));
    objects.push(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": { "name": "configmap-reader", "namespace": "practice" }, "rules": [ { "apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"] } ] }));
    objects.push(json!({ "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": { "name": "config-reader", "namespace": "practice" }, "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader" }, "subjects": [ { "kind": "ServiceAccount", "name": "config-reader", "namespace": "practice" } ] }));
    objects.push(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "too-big", "namespace": "practice" },
        "spec": { "schedulerName": "default-scheduler", "containers": [ { "name": "app", "image": "registry.k8s.io/pause:3.10.1", "resources": { "requests": { "memory": "1Ti" } } } ] },
        "status": { "phase": "Pending", "conditions": [ { "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": TOO_BIG } ], "qosClass": "Burstable" },
    }));
    objects.push(scheduler_event(
        "practice",
        "too-big",
        "FailedScheduling",
        TOO_BIG,
    ));
}

/// What the scheduler says about a pod requesting 1Ti on the lab cluster.
pub const TOO_BIG: &str = "0/5 nodes are available: 2 Insufficient memory, 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.";

/// Step 12 done: the admission policy and its binding, audit flags on the first API server,
/// metrics-server with its APIService Available, and a pod placed by the bin-packing profile.
pub fn practice_extensions(objects: &mut Vec<Value>) {
    objects.push(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": { "name": "require-limits" },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": { "resourceRules": [ { "apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"] } ], "matchPolicy": "Equivalent" },
            "validations": [ { "expression": "object.spec.template.spec.containers.all(c, has(c.resources) && has(c.resources.limits) && 'memory' in c.resources.limits)", "message": "every container needs a memory limit" } ],
        },
        "status": { "observedGeneration": 1, "typeChecking": {} },
    }));
    objects.push(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": { "name": "require-limits" },
        "spec": { "policyName": "require-limits", "validationActions": ["Deny"], "matchResources": { "namespaceSelector": { "matchLabels": { "kubernetes.io/metadata.name": "practice" } } } },
    }));
    let audited = {
        let mut pod = static_pod("kube-apiserver", "k8s-ha-control-plane", "172.18.0.3", true);
        let command = pod["spec"]["containers"][0]["command"]
            .as_array_mut()
            .unwrap();
        command.push(json!(
            "--audit-log-path=/var/log/kubernetes/audit/audit.log"
        ));
        command.push(json!(
            "--audit-policy-file=/etc/kubernetes/audit/policy.yaml"
        ));
        pod
    };
    replace(
        objects,
        "Pod",
        "kube-apiserver-k8s-ha-control-plane",
        Some(audited),
    );
    objects.push(deployment("kube-system", "metrics-server", 1, 1));
    objects.push(json!({
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": { "name": "v1beta1.metrics.k8s.io", "labels": { "k8s-app": "metrics-server" } },
        "spec": { "group": "metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100, "insecureSkipTLSVerify": true, "service": { "name": "metrics-server", "namespace": "kube-system", "port": 443 } },
        "status": { "conditions": [ { "type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed", "lastTransitionTime": "2026-11-25T11:00:00Z" } ] },
    }));
    let mut packed = pod(
        "practice",
        "packed",
        "k8s-ha-worker",
        json!({ "run": "packed" }),
        true,
    );
    packed["spec"]["schedulerName"] = json!("bin-packing");
    objects.push(packed);
    let mut bound = scheduler_event(
        "practice",
        "packed",
        "Scheduled",
        "Successfully assigned practice/packed to k8s-ha-worker",
    );
    // Each profile records its events as itself.
    bound["reportingComponent"] = json!("bin-packing");
    objects.push(bound);
}

/// metrics-server installed without `--kubelet-insecure-tls`: it cannot scrape kind's kubelets, so
/// it never becomes Ready and the APIService is not Available.
pub fn metrics_server_without_insecure_tls(objects: &mut Vec<Value>) {
    replace(
        objects,
        "Deployment",
        "metrics-server",
        Some(deployment("kube-system", "metrics-server", 1, 0)),
    );
    for object in objects.iter_mut().filter(|o| o["kind"] == "APIService") {
        object["status"]["conditions"] = json!([ { "type": "Available", "status": "False", "reason": "MissingEndpoints", "message": "endpoints for service/metrics-server in \"kube-system\" have no addresses with port name \"https\"" } ]);
    }
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
            "nodeInfo": { "kubeletVersion": "v1.36.1", "containerRuntimeVersion": "containerd://2.2.0", "osImage": "Debian GNU/Linux 12 (bookworm)" },
        },
    })
}

/// A kubeadm static pod: `component=<name>`, `tier=control-plane`, named after its node, with the
/// flags kubeadm writes into its manifest (the API server's as kubeadm 1.36 writes them).
pub fn static_pod(component: &str, node: &str, ip: &str, ready: bool) -> Value {
    let mut pod = pod(
        "kube-system",
        &format!("{component}-{node}"),
        node,
        json!({ "component": component, "tier": "control-plane" }),
        ready,
    );
    pod["metadata"]["ownerReferences"] =
        json!([ { "apiVersion": "v1", "kind": "Node", "name": node, "controller": true } ]);
    pod["metadata"]["annotations"] = json!({ "kubernetes.io/config.source": "file", "kubernetes.io/config.mirror": hash(&format!("{component}{node}")) });
    let command: Vec<String> = match component {
        "kube-apiserver" => [
            "kube-apiserver".to_owned(),
            format!("--advertise-address={ip}"),
            "--allow-privileged=true".to_owned(),
            "--authorization-mode=Node,RBAC".to_owned(),
            "--client-ca-file=/etc/kubernetes/pki/ca.crt".to_owned(),
            "--enable-admission-plugins=NodeRestriction".to_owned(),
            "--enable-bootstrap-token-auth=true".to_owned(),
            "--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt".to_owned(),
            "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt".to_owned(),
            "--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key".to_owned(),
            "--etcd-servers=https://127.0.0.1:2379".to_owned(),
            "--secure-port=6443".to_owned(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
            "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
            "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt".to_owned(),
            "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key".to_owned(),
        ]
        .to_vec(),
        "etcd" => vec![
            "etcd".to_owned(),
            format!("--advertise-client-urls=https://{ip}:2379"),
            "--data-dir=/var/lib/etcd".to_owned(),
            format!("--initial-advertise-peer-urls=https://{ip}:2380"),
            format!("--listen-client-urls=https://127.0.0.1:2379,https://{ip}:2379"),
            format!("--name={node}"),
        ],
        other => vec![
            other.to_owned(),
            "--bind-address=127.0.0.1".to_owned(),
            "--leader-elect=true".to_owned(),
        ],
    };
    pod["spec"]["containers"][0]["command"] = json!(command);
    pod["spec"]["hostNetwork"] = json!(true);
    pod["status"]["podIP"] = json!(ip);
    pod
}

pub fn pod(namespace: &str, name: &str, node: &str, labels: Value, ready: bool) -> Value {
    let flag = if ready { "True" } else { "False" };
    let container = name.split('-').take(2).collect::<Vec<_>>().join("-");
    let state = if ready {
        json!({ "running": { "startedAt": "2026-11-25T09:00:00Z" } })
    } else {
        json!({ "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container" } })
    };
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "spec": { "nodeName": node, "containers": [ { "name": container, "image": if container == "etcd" { "registry.k8s.io/etcd:3.6.6-0".to_owned() } else { format!("registry.k8s.io/{container}:v1.36.1") } } ] },
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

/// Every step of the lab done and the cluster back to normal: every step's checks pass except
/// step 5's, which describe the cluster during the outage (see [`mid_failure`]). Step 7's checks
/// also need the second cluster restored ([`restore_solo`]).
pub fn lab_complete() -> Vec<Value> {
    let mut objects = lab_done();
    schedulers_parked(&mut objects);
    schedulers_back(&mut objects);
    api_server_broken(&mut objects, false);
    api_server_fixed(&mut objects);
    kubelet_stopped(&mut objects);
    kubelet_started(&mut objects);
    practice_rbac_and_scheduling(&mut objects);
    practice_extensions(&mut objects);
    objects
}

/// Step 5's moment: the kube-controller-manager Lease holder paused a minute ago, the probe created.
pub fn mid_failure() -> Vec<Value> {
    let mut objects = with_monitoring_rbac(ha_cluster());
    pause_node(&mut objects, "k8s-ha-control-plane");
    create_probe(&mut objects);
    objects
}
