//! `lectern lab test` and `lectern lab record`: module 01 proven against its recorded states with
//! every check catching a mutant, wrong verdicts and broken test files reported, and a state
//! recorded from the API double replaying to the verdicts the live cluster gets.

use std::path::Path;

use serde_json::json;

use crate::common::kind_fixtures::{self as kind};
use crate::common::kube_api::FakeCluster;
use crate::common::{course_copy, default_course_dir, edit, lectern_cmd, module_dir};

fn lab_test(dir: &Path, extra: &[&str]) -> (i32, String) {
    let output = lectern_cmd()
        .args(["lab", "test"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn plan(course: &Path) -> std::path::PathBuf {
    module_dir(course).join("lab/tests/lab-test.toml")
}

#[test]
fn module_01_is_proven_offline_with_every_check_catching_a_mutant() {
    let (code, out) = lab_test(&default_course_dir(), &["--require-score", "100"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Mutants: 65 of 65 caught as expected"),
        "{out}"
    );
    assert!(
        out.contains("Mutation score: 65 of 65 checks catch a mutant (100.0%)"),
        "{out}"
    );
    // Every step with checks has a state that must pass it and one that must fail it.
    assert!(!out.contains("WRONG"), "{out}");
    assert!(
        out.contains("✔ step 7, the backup and restore, watched from the start: passed"),
        "{out}"
    );
    // A mutant is caught by the check it names, with the near-miss it expects.
    assert!(
        out.contains("caught by monitor-service-account: ServiceAccount monitoring/control-plane-monitor not found; found ServiceAccount control-plane-monitor in namespace default, not in monitoring"),
        "{out}"
    );
}

#[test]
fn a_wrong_verdict_an_uncaught_mutant_or_a_wrong_near_miss_fails_the_run() {
    let course = course_copy();
    let plan = plan(course.path());
    // A state claimed to pass a step it does not.
    edit(
        &plan,
        "name = \"ha-created\"\nfile = \"states/ha-created.json\"\npass = [2, 3]\nfail = [4,",
        "name = \"ha-created\"\nfile = \"states/ha-created.json\"\npass = [2, 3, 4]\nfail = [",
    );
    // A mutant that is not wrong at all: a newer version passes the version check.
    edit(&plan, "version = \"v1.35.2\"", "version = \"v1.37.0\"");
    // A near-miss the failure does not say.
    edit(
        &plan,
        "says = \"Namespace monitoring not found\"",
        "says = \"Namespace monitoring is missing\"",
    );
    let (code, out) = lab_test(course.path(), &["--require-score", "100"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("WRONG: state ha-created, step 4: must pass, but failed: monitoring-namespace: Namespace monitoring not found"),
        "{out}"
    );
    assert!(
        out.contains("WRONG step 2, an older kind node image (Kubernetes 1.35): not caught: server-version passed: the server is v1.37.0"),
        "{out}"
    );
    assert!(
        out.contains("monitoring-namespace failed, but its message does not say \"Namespace monitoring is missing\": Namespace monitoring not found"),
        "{out}"
    );
    assert!(
        out.contains("Mutation score: 63 of 65 checks catch a mutant (96.9%); none caught by: server-version, monitoring-namespace"),
        "{out}"
    );
    assert!(out.contains("3 wrong verdicts"), "{out}");
    assert!(
        out.contains("The mutation score is below the required 100%."),
        "{out}"
    );
}

#[test]
fn mistakes_in_lab_tests_are_reported_with_file_and_line_by_validate_and_lab_test() {
    let course = course_copy();
    let plan = plan(course.path());
    edit(
        &plan,
        "object = \"Node k8s-ha-worker2\"\n",
        "object = \"Node k8s-ha-nowhere\"\n",
    );
    edit(
        &plan,
        "fail = [5, 6, 7, 8, 9, 10, 11, 12]",
        "fail = [5, 13]",
    );
    edit(&plan, "catch = \"zone-labels\"", "catch = \"zone-label\"");
    let text = std::fs::read_to_string(&plan).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let state = module_dir(course.path()).join("lab/tests/states/mid-drill.json");
    std::fs::write(
        &state,
        "{\n  \"format\": \"lectern-state/1\",\n  \"contexts\": {\n",
    )
    .unwrap();

    let file = "modules/01-cluster-architecture/lab/tests/lab-test.toml";
    let expected = [
        format!(
            "{file}:{}:12: the lab has no step 13 (it has steps 1 to 12)",
            line_of("fail = [5, 13]")
        ),
        format!(
            "{file}:{}:9: step 2 has no check `zone-label` (its checks: control-plane-nodes, worker-nodes, zone-labels, third-control-plane-zone, server-version)",
            line_of("catch = \"zone-label\"")
        ),
        format!(
            "{file}:{}:1: no Node k8s-ha-nowhere in this state (Node objects: k8s-ha-control-plane, k8s-ha-control-plane2, k8s-ha-control-plane3, k8s-ha-worker, k8s-ha-worker2)",
            line_of("object = \"Node k8s-ha-nowhere\"") - 2
        ),
        "modules/01-cluster-architecture/lab/tests/states/mid-drill.json:4:1: EOF while parsing an object at line 4 column 0".to_owned(),
    ];
    let validate = lectern_cmd()
        .current_dir(course.path())
        .args(["validate", "."])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&validate.stdout);
    assert_eq!(validate.status.code(), Some(1), "{out}");
    let (code, tested) = lab_test(course.path(), &[]);
    assert_eq!(code, 2, "{tested}");
    for line in &expected {
        assert!(out.contains(line.as_str()), "validate: {line}\n{out}");
        assert!(
            tested.contains(line.trim_start_matches("modules/")),
            "lab test: {line}\n{tested}"
        );
    }
    assert!(tested.contains("the tests were not run"), "{tested}");
    assert!(
        !out.contains("no state `mid-drill`"),
        "a state that could not be read is one mistake, not one per use: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_recorded_from_live_clusters_replays_to_their_verdicts() {
    let mut objects = kind::lab_complete();
    objects.push(json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "db", "namespace": "kube-system" }, "data": { "password": "aHVudGVyMg==" } }));
    let ha = FakeCluster::start(objects).await;
    let solo = FakeCluster::start(kind::solo_not_restored()).await;
    kind::restore_solo(&solo);
    let both = ha.kubeconfig_with(&solo, "kind-solo");
    let course = course_copy();
    let dir = course.path().to_owned();
    let record = |name: &'static str| {
        let (dir, both) = (dir.clone(), both.clone());
        tokio::task::spawn_blocking(move || {
            lectern_cmd()
                .args([
                    "lab",
                    "record",
                    "ha-control-plane",
                    "--step",
                    "12",
                    "--as",
                    name,
                ])
                .arg("--content")
                .arg(&dir)
                .arg("--kubeconfig")
                .arg(&both)
                .output()
                .unwrap()
        })
    };
    let output = record("recorded").await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("(2 contexts, "), "{stdout}");

    let tests = module_dir(&dir).join("lab/tests");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tests.join("states/recorded.json")).unwrap())
            .unwrap();
    assert_eq!(saved["current-context"], "kind-k8s-ha");
    assert_eq!(
        saved["contexts"]["kind-solo"]["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["kind"] == "Lease")
            .unwrap()["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .len(),
        10,
        "the restore's bumped revision is recorded"
    );
    let text = saved.to_string();
    assert!(!text.contains("aHVudGVyMg=="), "no Secret data is recorded");
    // Only what the checks read: the Secret is read by none of module 01's checks.
    assert!(!text.contains("\"Secret\""), "{text}");
    for request in ha.requests().iter().chain(solo.requests().iter()) {
        assert!(
            request.starts_with("GET "),
            "recording is read-only: {request}"
        );
    }
    let plan = std::fs::read_to_string(tests.join("lab-test.toml")).unwrap();
    assert!(
        plan.ends_with(
            "[[state]]\nname = \"recorded\"\nfile = \"states/recorded.json\"\npass = [12]\n"
        ),
        "{plan}"
    );

    // The same name again is refused rather than overwritten.
    let again = record("recorded").await.unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    // Replayed, the recorded state gets the verdicts the live clusters got: every step but 5
    // (the outage is over) and 7 (checked once, nothing was seen before the restore).
    let (code, out) = lab_test(&dir, &[]);
    assert_eq!(code, 0, "{out}");
    let row = out
        .lines()
        .find(|l| l.trim_start().starts_with("recorded "))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().skip(1).collect();
    assert_eq!(
        cells,
        [
            "·p", "·p", "·p", "·f", "·p", "·f", "·p", "·p", "·p", "·p", "✔"
        ],
        "{row}"
    );
    let live = lectern_cmd()
        .args([
            "lab",
            "check",
            "ha-control-plane",
            "--step",
            "12",
            "--kubeconfig",
        ])
        .arg(&both)
        .arg("--db")
        .arg(dir.join("l.db"))
        .output()
        .unwrap();
    assert_eq!(
        live.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&live.stdout)
    );
}
