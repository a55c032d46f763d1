//! Lab checks, measured: module 01's steps 2 to 4 (22 checks) with Lectern against the Kubernetes API test double,
//! side by side with `benches/kubectl-checks.sh`, the classic way (one `kubectl` call per check),
//! against the same double in the same run. Not a test: it prints figures.
//!
//!   cargo bench --bench lab_checks          # needs kubectl (Debian: apt-get install kubernetes-client)

#[path = "../tests/common/kind_fixtures.rs"]
#[allow(dead_code, unreachable_pub)]
mod kind_fixtures;
#[path = "../tests/common/kube_api.rs"]
#[allow(dead_code, unreachable_pub)]
mod kube_api;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lectern::content::{self, CourseFiles};
use lectern::labs::{self, Cluster, ConnectOptions};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let cluster = kube_api::FakeCluster::start(kind_fixtures::lab_done()).await;
    let kubeconfig = cluster.kubeconfig.clone();
    let course = content::load(CourseFiles::embedded()).expect("embedded course");
    let (_, lab) = course.lab("ha-control-plane").expect("module 01 lab");
    // Steps 2 to 4 hold on a healthy lab cluster; the kubectl baseline checks the same things.
    let measured: Vec<_> = lab
        .steps
        .iter()
        .filter(|s| (2..=4).contains(&s.number))
        .collect();
    let checks: usize = measured.iter().map(|s| s.checks.len()).sum();

    // In process: connect once, run every step's checks (what the server does per click, for all steps).
    let options = ConnectOptions {
        kubeconfig: Some(kubeconfig.clone()),
        context: None,
        timeout: Duration::from_secs(5),
        inline_kubeconfig: None,
    };
    let mut in_process = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let cluster = Cluster::connect(&options).await.unwrap();
        let cache = labs::ClusterCache::default();
        let targets = labs::Targets {
            cache: &cache,
            options: Some(&options),
            bridge: None,
            main: &cluster,
        };
        for step in &measured {
            let run = labs::run_step(&targets, lab, step, &labs::Moment::default()).await;
            assert_eq!(run.status, labs::Status::Passed, "{run:#?}");
        }
        in_process.push(started.elapsed());
    }

    // The command line, as a learner runs it: process start, kubeconfig, TLS, checks, recording.
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/lectern");
    let build = Command::new("cargo")
        .args(["build", "--release", "--quiet"])
        .status()
        .unwrap();
    assert!(build.success());
    let db = tempfile::tempdir().unwrap();
    let cli = tokio::task::spawn_blocking({
        let kubeconfig = kubeconfig.clone();
        let db = db.path().join("bench.db");
        move || {
            (0..10)
                .map(|_| {
                    let started = Instant::now();
                    let status = Command::new(&binary)
                        .args([
                            "lab",
                            "check",
                            "ha-control-plane",
                            "--output",
                            "json",
                            "--step",
                            "2",
                            "--step",
                            "3",
                            "--step",
                            "4",
                            "--kubeconfig",
                        ])
                        .arg(&kubeconfig)
                        .arg("--db")
                        .arg(&db)
                        .stdout(std::process::Stdio::null())
                        .status()
                        .unwrap();
                    assert!(status.success(), "lectern lab check failed");
                    started.elapsed()
                })
                .collect::<Vec<_>>()
        }
    })
    .await
    .unwrap();

    // The classic way.
    let kubectl = Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/kubectl-checks.sh");
    let baseline = match kubectl {
        Ok(_) => Some(
            tokio::task::spawn_blocking(move || {
                (0..3)
                    .map(|_| {
                        let started = Instant::now();
                        let output = Command::new("bash")
                            .arg(&script)
                            .env("KUBECONFIG", &kubeconfig)
                            .env("HOME", std::env::temp_dir())
                            .output()
                            .unwrap();
                        assert!(
                            output.status.success(),
                            "kubectl script failed:\n{}",
                            String::from_utf8_lossy(&output.stdout)
                        );
                        started.elapsed()
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap(),
        ),
        Err(_) => None,
    };

    let in_process = median(in_process);
    let cli = median(cli);
    println!(
        "Module 01 lab, steps 2 to 4: {checks} checks, against the Kubernetes API test double over HTTPS on loopback"
    );
    println!("{:<58} {:>12}", "", "median");
    println!(
        "{:<58} {:>12}",
        "Lectern, in process (connect + all checks)",
        ms(in_process)
    );
    println!(
        "{:<58} {:>12}",
        "lectern lab check (whole process, incl. recording)",
        ms(cli)
    );
    match baseline {
        Some(samples) => {
            let baseline = median(samples);
            println!(
                "{:<58} {:>12}",
                "kubectl script (one kubectl call per check)",
                ms(baseline)
            );
            println!(
                "speed-up of `lectern lab check` over the script: {:.1}x   (target >= 10x)",
                baseline.as_secs_f64() / cli.as_secs_f64()
            );
        }
        None => println!(
            "kubectl not found: install it (Debian: apt-get install kubernetes-client) for the side-by-side figure"
        ),
    }
    println!(
        "steps 2 to 4 in process: {}   (target < 100 ms)",
        ms(in_process)
    );
}
