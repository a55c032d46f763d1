#!/usr/bin/env bash
# Module 01's lab checks the way peer courseware verifies labs: one kubectl call per check, answering
# pass/fail. Used by benches/lab_checks.rs as the baseline Lectern is measured against; it checks the
# same 22 things as steps 2 to 4 of content/modules/01-cluster-architecture/lab/ (the steps that
# hold on a healthy lab cluster; the later ones need outages, repairs and a second cluster).
#
#   KUBECONFIG=... benches/kubectl-checks.sh
set -uo pipefail
failed=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then echo "PASS $1"; else echo "FAIL $1 (expected $2, got $3)"; failed=1; fi
}
ready_count() { # ready_count KUBECTL-GET-ARGS...
  kubectl get "$@" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True
}
can() { # can VERB RESOURCE NAMESPACE [GROUP] -> true/false, through a SubjectAccessReview like Lectern's
  local ns=""
  [ -n "$3" ] && ns="\"namespace\": \"$3\","
  kubectl create --validate=false -o jsonpath='{.status.allowed}' -f - <<JSON
{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
 "spec": {"user": "system:serviceaccount:monitoring:control-plane-monitor",
          "groups": ["system:serviceaccounts", "system:serviceaccounts:monitoring", "system:authenticated"],
          "resourceAttributes": {$ns "verb": "$1", "group": "${4:-}", "resource": "$2"}}}
JSON
}
can_url() { # can_url VERB PATH -> true/false for a non-resource URL
  kubectl create --validate=false -o jsonpath='{.status.allowed}' -f - <<JSON
{"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
 "spec": {"user": "system:serviceaccount:monitoring:control-plane-monitor",
          "groups": ["system:serviceaccounts", "system:serviceaccounts:monitoring", "system:authenticated"],
          "nonResourceAttributes": {"verb": "$1", "path": "$2"}}}
JSON
}
SA=control-plane-monitor

# Step 2
check control-plane-nodes 3 "$(ready_count nodes -l node-role.kubernetes.io/control-plane)"
check worker-nodes 2 "$(ready_count nodes -l '!node-role.kubernetes.io/control-plane')"
check zone-labels 5 "$(kubectl get nodes -l 'topology.kubernetes.io/zone in (zone-a,zone-b,zone-c)' -o name | wc -l)"
check third-control-plane-zone zone-c "$(kubectl get node k8s-ha-control-plane3 -o jsonpath='{.metadata.labels.topology\.kubernetes\.io/zone}')"
minor=$(kubectl version -o json | grep -A3 serverVersion | sed -n 's/.*"minor": "\([0-9]*\).*/\1/p')
check server-version true "$([ "${minor:-0}" -ge 34 ] && echo true || echo false)"
# Step 3
for component in kube-apiserver etcd kube-controller-manager kube-scheduler; do
  check "$component" 3 "$(ready_count pods -n kube-system -l component=$component)"
done
check api-server-ready "[+]etcd ok" "$(kubectl get --raw='/readyz?verbose' | grep -o '^\[.\]etcd ok')"
# Step 4
check monitoring-namespace monitoring "$(kubectl get namespace monitoring -o jsonpath='{.metadata.name}')"
check monitor-service-account $SA "$(kubectl -n monitoring get serviceaccount $SA -o jsonpath='{.metadata.name}')"
check monitor-cluster-role "get list watch get list watch get" "$(kubectl get clusterrole $SA -o jsonpath='{.rules[*].verbs[*]}')"
check monitor-binding "monitoring" "$(kubectl get clusterrolebinding $SA -o jsonpath='{.subjects[*].namespace}')"
check monitor-can-list-pods true "$(can list pods '')"
check monitor-can-watch-nodes true "$(can watch nodes '')"
check monitor-can-list-services true "$(can list services '')"
check monitor-can-read-leases true "$(can get leases kube-system coordination.k8s.io)"
check monitor-can-scrape-metrics true "$(can_url get /metrics)"
check monitor-cannot-take-leases false "$(can update leases kube-system coordination.k8s.io)"
check monitor-cannot-delete-pods false "$(can delete pods default)"
check monitor-cannot-read-secrets false "$(can get secrets kube-system)"
exit $failed
