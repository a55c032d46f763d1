//! Several servers of one portal on PostgreSQL, behind a load balancer: migrations run once when
//! they start together, a replica killed with SIGKILL loses no acknowledged write and no session,
//! and a rolling restart with `--drain-seconds` fails no request. On SQLite (one file, one server)
//! these tests have nothing to run.

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lectern::auth::{Origin, Role};

use crate::common::kind_fixtures as kind;
use crate::common::kube_api::FakeCluster;
use crate::common::{PASSWORD, free_port, fresh_database, postgres_under_test, serve_cmd};

const CHECK: &str = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";

/// How long the balancer keeps sending to a replica whose `/readyz` fails.
const TAKEN_OUT_AFTER: Duration = Duration::from_millis(600);

/// A `lectern serve --portal` process on the shared database.
struct Replica {
    port: u16,
    child: Child,
}

impl Replica {
    fn start(db: &str, kubeconfig: &Path, port: u16, drain_seconds: u64) -> Self {
        let child = serve_cmd(db, kubeconfig, port)
            .arg("--portal")
            .args(["--drain-seconds", &drain_seconds.to_string()])
            .args(["--replica-url", &format!("http://127.0.0.1:{port}")])
            .spawn()
            .unwrap();
        Self { port, child }
    }

    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = reqwest::get(format!("http://127.0.0.1:{}/readyz", self.port)).await;
            if answer.is_ok_and(|a| a.status() == 200) {
                return;
            }
            assert!(
                self.child.try_wait().unwrap().is_none(),
                "replica on {} exited",
                self.port
            );
            assert!(
                Instant::now() < deadline,
                "replica on {} not ready",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as the balancer sent it.
struct Sent {
    learner: usize,
    port: u16,
    at: Instant,
    outcome: Result<(u16, String), String>,
}

/// What a load balancer in front of the replicas does: each request goes to the next ready
/// replica; a replica leaves the rotation once its `/readyz` (polled every 100 ms) has failed for
/// [`TAKEN_OUT_AFTER`] (the time Kubernetes takes to see a failed readiness probe and update the
/// endpoints), and comes back when it answers again. An ingress (nginx's default) also tries another
/// replica when a connection cannot be opened (nothing was sent); a Kubernetes Service does not,
/// so the client sees the refusal. Connections are not kept alive, as with connection-level
/// balancing.
struct Balancer {
    retries_refused: bool,
    ports: Mutex<Vec<(u16, Arc<AtomicBool>)>>,
    next: AtomicUsize,
    client: reqwest::Client,
    log: Mutex<Vec<Sent>>,
    stop: Arc<AtomicBool>,
}

impl Balancer {
    fn new(ports: &[u16], retries_refused: bool) -> Arc<Self> {
        let balancer = Arc::new(Self {
            retries_refused,
            ports: Mutex::new(
                ports
                    .iter()
                    .map(|&p| (p, Arc::new(AtomicBool::new(true))))
                    .collect(),
            ),
            next: AtomicUsize::new(0),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            log: Mutex::new(Vec::new()),
            stop: Arc::new(AtomicBool::new(false)),
        });
        let polling = balancer.clone();
        tokio::spawn(async move {
            let probe = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_millis(500))
                .build()
                .unwrap();
            let mut failing_since: Vec<Option<Instant>> = Vec::new();
            while !polling.stop.load(Ordering::Relaxed) {
                let ports = polling.ports.lock().unwrap().clone();
                failing_since.resize(ports.len(), None);
                for (i, (port, ready)) in ports.into_iter().enumerate() {
                    let answer = probe
                        .get(format!("http://127.0.0.1:{port}/readyz"))
                        .send()
                        .await;
                    if answer.is_ok_and(|a| a.status() == 200) {
                        failing_since[i] = None;
                        ready.store(true, Ordering::Relaxed);
                    } else {
                        let since = *failing_since[i].get_or_insert_with(Instant::now);
                        if since.elapsed() >= TAKEN_OUT_AFTER {
                            ready.store(false, Ordering::Relaxed);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        balancer
    }

    /// Sends `learner`'s request (built afresh for each attempt) and logs what came of it.
    async fn send(
        &self,
        learner: usize,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<(u16, String), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready: Vec<u16> = self
                .ports
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, r)| r.load(Ordering::Relaxed))
                .map(|(p, _)| *p)
                .collect();
            if ready.is_empty() {
                assert!(Instant::now() < deadline, "no replica was ready for 10 s");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let port = ready[self.next.fetch_add(1, Ordering::Relaxed) % ready.len()];
            let at = Instant::now();
            let base = format!("http://127.0.0.1:{port}");
            let outcome = match build(&self.client, &base).send().await {
                Err(e) if e.is_connect() && self.retries_refused => continue, // nothing was sent
                Err(e) => Err(e.to_string()),
                Ok(response) => {
                    let status = response.status().as_u16();
                    Ok((status, response.text().await.unwrap_or_default()))
                }
            };
            self.log.lock().unwrap().push(Sent {
                learner,
                port,
                at,
                outcome: outcome.clone(),
            });
            return outcome;
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A signed-in learner: session token and CSRF token.
struct Learner {
    token: String,
    csrf: String,
}

async fn sign_in(base: &str, name: &str) -> Learner {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client.get(format!("{base}/sign-in")).send().await.unwrap();
    let sign_in_cookie = crate::common::browser::set_cookie(&form, "lectern_sign_in").unwrap();
    let csrf = crate::common::browser::cookie_value(&sign_in_cookie);
    let response = client
        .post(format!("{base}/sign-in"))
        .header("cookie", format!("lectern_sign_in={csrf}"))
        .form(&[("username", name), ("password", PASSWORD), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let session =
        crate::common::browser::set_cookie(&response, "lectern_session").expect("signed in");
    let token = crate::common::browser::cookie_value(&session);
    let home = client
        .get(format!("{base}/"))
        .header("cookie", format!("lectern_session={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = home
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page carries the session's CSRF token")
        .to_owned();
    Learner { token, csrf }
}

/// A new database with `count` learners (`learner0`…), and the pool to inspect it.
async fn portal_database(dir: &Path, count: usize) -> (String, sqlx::AnyPool) {
    let db = fresh_database(dir).await;
    let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
    let hasher = lectern::auth::Hasher::default();
    for i in 0..count {
        lectern::auth::create_account(
            &pool,
            &hasher,
            &format!("learner{i}"),
            Role::Learner,
            PASSWORD,
            None,
            Origin::Cli,
        )
        .await
        .unwrap();
    }
    (db, pool)
}

/// Each learner, until `stop`: "Check my work" (a write) and a page (their session), with a
/// pause between, through the balancer.
fn work(
    balancer: &Arc<Balancer>,
    learners: Arc<Vec<Learner>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..learners.len())
        .map(|i| {
            let (balancer, learners, stop) = (balancer.clone(), learners.clone(), stop.clone());
            tokio::spawn(async move {
                let learner = &learners[i];
                let cookie = format!("lectern_session={}", learner.token);
                while !stop.load(Ordering::Relaxed) {
                    balancer
                        .send(i, |client, base| {
                            client
                                .post(format!("{base}{CHECK}"))
                                .header("cookie", &cookie)
                                .header("x-csrf-token", &learner.csrf)
                                .header("content-type", "application/json")
                                .body("{}")
                        })
                        .await
                        .ok();
                    balancer
                        .send(i, |client, base| {
                            client
                                .get(format!("{base}/modules/cluster-architecture"))
                                .header("cookie", &cookie)
                        })
                        .await
                        .ok();
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            })
        })
        .collect()
}

/// The ids of the check runs the replicas acknowledged (answered 200 with the run).
fn acknowledged_runs(log: &[Sent]) -> Vec<i64> {
    log.iter()
        .filter_map(|s| match &s.outcome {
            Ok((200, body)) => serde_json::from_str::<serde_json::Value>(body)
                .ok()?
                .get("id")?
                .as_i64(),
            _ => None,
        })
        .collect()
}

async fn stored_runs(pool: &sqlx::AnyPool) -> Vec<i64> {
    sqlx::query_as::<_, (i64,)>("SELECT id FROM check_runs")
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    if postgres_under_test().is_none() {
        return;
    }
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path()).await; // empty: the replicas migrate it
    let mut replicas: Vec<Replica> = (0..3)
        .map(|_| Replica::start(&db, &cluster.kubeconfig, free_port(), 0))
        .collect();
    for replica in &mut replicas {
        replica.ready().await;
    }
    let pool = lectern::db::open(&db.parse().unwrap()).await.unwrap();
    let (applied, failed): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT success) FROM _sqlx_migrations",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        applied as usize,
        lectern::db::POSTGRES_MIGRATOR.iter().count()
    );
    assert_eq!(failed, 0);
    let (secrets,): (i64,) = sqlx::query_as("SELECT count(*) FROM replica_secret")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(secrets, 1, "one secret for every server");
    let (versions, questions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT (module_id, question_id)) FROM rubric_versions",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(questions > 0);
    assert_eq!(
        versions, questions,
        "each rubric recorded once, by one of them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_loses_no_acknowledged_write_and_no_session() {
    if postgres_under_test().is_none() {
        return;
    }
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    const LEARNERS: usize = 6;
    let (db, pool) = portal_database(dir.path(), LEARNERS).await;
    let mut doomed = Replica::start(&db, &cluster.kubeconfig, free_port(), 0);
    let mut survivor = Replica::start(&db, &cluster.kubeconfig, free_port(), 0);
    doomed.ready().await;
    survivor.ready().await;
    let mut learners = Vec::new();
    for i in 0..LEARNERS {
        learners.push(
            sign_in(
                &format!("http://127.0.0.1:{}", doomed.port),
                &format!("learner{i}"),
            )
            .await,
        );
    }
    let balancer = Balancer::new(&[doomed.port, survivor.port], true); // an ingress
    let stop = Arc::new(AtomicBool::new(false));
    let workers = work(&balancer, Arc::new(learners), &stop);

    tokio::time::sleep(Duration::from_millis(1500)).await;
    doomed.child.kill().unwrap(); // SIGKILL: no drain, no goodbye
    doomed.child.wait().unwrap();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let log = std::mem::take(&mut *balancer.log.lock().unwrap());
    let stored = stored_runs(&pool).await;
    let acknowledged = acknowledged_runs(&log);
    assert!(
        acknowledged.len() >= LEARNERS * 2,
        "{} runs",
        acknowledged.len()
    );
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "acknowledged run {id} is in the database"
        );
    }
    for sent in &log {
        let failed = !matches!(sent.outcome, Ok((200, _)));
        if failed {
            assert!(
                sent.port == doomed.port && sent.at < killed_at,
                "only requests in flight on the killed replica may fail: {:?}",
                sent.outcome
            );
        }
    }
    let in_flight = log
        .iter()
        .filter(|s| !matches!(s.outcome, Ok((200, _))))
        .count();
    assert!(in_flight <= LEARNERS, "{in_flight} failed");
    for learner in 0..LEARNERS {
        let continued = log.iter().any(|s| {
            s.learner == learner
                && s.port == survivor.port
                && s.at > killed_at
                && matches!(s.outcome, Ok((200, _)))
        });
        assert!(
            continued,
            "learner{learner}'s session goes on on the other replica"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_fails_no_request() {
    if postgres_under_test().is_none() {
        return;
    }
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let dir = tempfile::tempdir().unwrap();
    const LEARNERS: usize = 4;
    // Longer than the balancer takes to see a failing /readyz.
    const DRAIN_SECONDS: u64 = 2;
    let (db, pool) = portal_database(dir.path(), LEARNERS).await;
    let ports = [free_port(), free_port()];
    let mut replicas = [
        Replica::start(&db, &cluster.kubeconfig, ports[0], DRAIN_SECONDS),
        Replica::start(&db, &cluster.kubeconfig, ports[1], DRAIN_SECONDS),
    ];
    for replica in &mut replicas {
        replica.ready().await;
    }
    let mut learners = Vec::new();
    for i in 0..LEARNERS {
        learners.push(
            sign_in(
                &format!("http://127.0.0.1:{}", ports[0]),
                &format!("learner{i}"),
            )
            .await,
        );
    }
    // A Service: the drain alone must keep clients away from a replica that stops accepting.
    let balancer = Balancer::new(&ports, false);
    let stop = Arc::new(AtomicBool::new(false));
    let workers = work(&balancer, Arc::new(learners), &stop);

    tokio::time::sleep(Duration::from_millis(500)).await;
    for replica in &mut replicas {
        // As a Deployment's rolling update does: SIGTERM, wait for the exit, start the new one.
        replica.terminate();
        let deadline = Instant::now() + Duration::from_secs(20);
        while replica.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the replica did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *replica = Replica::start(&db, &cluster.kubeconfig, replica.port, DRAIN_SECONDS);
        replica.ready().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }

    let log = std::mem::take(&mut *balancer.log.lock().unwrap());
    let failed: Vec<_> = log
        .iter()
        .filter(|s| !matches!(s.outcome, Ok((200, _))))
        .map(|s| (s.port, s.outcome.clone()))
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert!(log.len() > LEARNERS * 8, "{} requests", log.len());
    for port in ports {
        assert!(log.iter().any(|s| s.port == port), "both replicas served");
    }
    let stored = stored_runs(&pool).await;
    for id in acknowledged_runs(&log) {
        assert!(stored.contains(&id));
    }
}

/// The resident memory of a process, from `/proc` (Linux).
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// A class signing in costs the Argon2 working memory once, not once per thread that hashed:
/// the server stays within the memory the Kubernetes manifests request (128 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_after_a_class_signs_in_stays_within_the_manifests_request() {
    const REQUEST: u64 = 128 * 1024 * 1024;
    const LEARNERS: usize = 24;
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let cluster = FakeCluster::start(kind::lab_done()).await;
    let (db, pool) = portal_database(dir.path(), LEARNERS).await;
    pool.close().await;
    let mut replica = Replica::start(&db, &cluster.kubeconfig, free_port(), 0);
    replica.ready().await;
    let base = format!("http://127.0.0.1:{}", replica.port);
    let before = resident_bytes(replica.child.id());
    for _ in 0..ROUNDS {
        let sign_ins: Vec<_> = (0..LEARNERS)
            .map(|i| {
                let base = base.clone();
                tokio::spawn(async move { sign_in(&base, &format!("learner{i}")).await })
            })
            .collect();
        for sign_in in sign_ins {
            sign_in.await.unwrap();
        }
    }
    let after = resident_bytes(replica.child.id());
    assert!(
        after < REQUEST,
        "{} sign-ins took the server from {} MiB to {} MiB",
        LEARNERS * ROUNDS,
        before >> 20,
        after >> 20
    );
}
