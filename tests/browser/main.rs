//! End-to-end in a real headless Chromium, driven through chromedriver: module 01 as a learner sees it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (the README's test command installs them). Without
//! them the test is skipped with a message, except under `CI=true`, where it fails instead.

mod audit;
#[path = "../common/mod.rs"]
mod common;
mod lti;
mod sso;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use common::kind_fixtures as kind;
use common::kube_api::FakeCluster;
use common::{TestApp, free_port};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver's (non-W3C) endpoint for the browser console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// chromedriver running on a free port, stopped on drop.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        let message = "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)";
        assert!(std::env::var("CI").is_err(), "{message}");
        eprintln!("skipping browser test: {message}");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    Some(Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    })
}

async fn connect(driver: &Driver) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1280,1000",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL" },
    });
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let url = format!("http://127.0.0.1:{}", driver.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
        match attempt {
            Ok(client) => return client,
            Err(e) if Instant::now() > deadline => panic!("cannot start a browser session: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Closes the session, then fails the test if the steps failed or the browser logged at `levels`.
async fn finish(
    browser: Client,
    result: Result<(), fantoccini::error::CmdError>,
    what: &str,
    levels: &[&str],
) {
    finish_expecting(browser, result, what, levels, &[]).await;
}

/// [`finish`], except for log entries containing one of `expected` (a 4xx the test provoked).
async fn finish_expecting(
    browser: Client,
    result: Result<(), fantoccini::error::CmdError>,
    what: &str,
    levels: &[&str],
    expected: &[&str],
) {
    let log = browser.issue_cmd(BrowserLog).await;
    browser.close().await.ok();
    result.unwrap_or_else(|e| panic!("{what}: {e}"));
    let log = log.expect("browser log");
    let problems: Vec<&Value> = log
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|entry| levels.contains(&entry["level"].as_str().unwrap_or_default()))
        .filter(|entry| {
            let message = entry["message"].as_str().unwrap_or_default();
            !expected.iter().any(|e| message.contains(e))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "the pages logged errors: {problems:#?}"
    );
}

#[tokio::test]
async fn module_01_renders_its_diagram_and_working_toc_without_console_errors() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let browser = connect(&driver).await;
    let result = check_module_page(&browser, &app).await;
    finish(
        browser,
        result,
        "module page checks",
        &["SEVERE", "WARNING"],
    )
    .await;
}

async fn check_module_page(
    browser: &Client,
    app: &TestApp,
) -> Result<(), fantoccini::error::CmdError> {
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;

    // mermaid.js, served by Lectern itself, turned the diagram source into an SVG.
    let svg = browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("pre.mermaid svg"))
        .await?;
    let svg_text = svg.text().await?;
    assert!(
        svg_text.contains("kube-apiserver") && svg_text.contains("etcd"),
        "diagram content: {svg_text}"
    );
    let messages = browser
        .find_all(Locator::Css("pre.mermaid svg .messageText"))
        .await?;
    assert!(
        messages.len() >= 10,
        "sequence diagram has its messages: {}",
        messages.len()
    );

    // Every table-of-contents link points at an element on the page, and following one moves there.
    let targets = browser
        .execute(
            "return Array.from(document.querySelectorAll('.toc a')).map(a => [a.getAttribute('href'), \
             document.getElementById(a.getAttribute('href').slice(1)) !== null]);",
            vec![],
        )
        .await?;
    let targets = targets.as_array().expect("toc links");
    assert!(targets.len() > 20, "toc has {} links", targets.len());
    for target in targets {
        assert_eq!(
            target[1],
            Value::Bool(true),
            "toc link {} leads nowhere",
            target[0]
        );
    }
    let link = browser
        .find(Locator::Css(".toc a[href='#step-4-monitoring-rbac']"))
        .await?;
    link.click().await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let state = browser
            .execute(
                "const r = document.getElementById('step-4-monitoring-rbac').getBoundingClientRect(); \
                 return [location.hash, r.top >= -1 && r.top < window.innerHeight / 2];",
                vec![],
            )
            .await?;
        if state == json!(["#step-4-monitoring-rbac", true]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "clicking the toc link did not scroll to its section: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Scroll-spy: the contents mark the section being read.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let current = browser
            .execute(
                "const a = document.querySelector('.toc a[aria-current=location]'); return a && a.getAttribute('href');",
                vec![],
            )
            .await?;
        if current == json!("#step-4-monitoring-rbac") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the contents do not mark the section being read: {current}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The diagram opens full size in a dialog, larger than in the column, and closes again.
    let inline_width = browser
        .execute(
            "return document.querySelector('pre.mermaid svg').getBoundingClientRect().width;",
            vec![],
        )
        .await?;
    click(browser, ".diagram-open").await?;
    let dialog = browser
        .wait()
        .for_element(Locator::Css(
            "dialog.diagram-dialog[open] .diagram-full svg",
        ))
        .await?;
    let full_width = browser
        .execute(
            "return arguments[0].getBoundingClientRect().width;",
            vec![serde_json::to_value(&dialog)?],
        )
        .await?;
    assert!(
        full_width.as_f64() > inline_width.as_f64(),
        "full size {full_width} vs {inline_width} in the column"
    );
    click(browser, ".diagram-close").await?;
    let open = browser
        .execute(
            "return document.querySelectorAll('dialog[open]').length;",
            vec![],
        )
        .await?;
    assert_eq!(open, json!(0), "Close closes it");

    // The table of contents is open beside the text, folded above it on a phone.
    let toc_open = "return document.querySelector('.toc-box').open;";
    assert_eq!(browser.execute(toc_open, vec![]).await?, json!(true));
    browser.set_window_size(390, 900).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(browser.execute(toc_open, vec![]).await?, json!(false));
    browser.set_window_size(1280, 1000).await?;

    // The copy buttons are revealed by Lectern's script.
    let hidden = browser
        .execute("return Array.from(document.querySelectorAll('button.copy')).filter(b => b.hidden).length;", vec![])
        .await?;
    assert_eq!(hidden, json!(0), "copy buttons stay hidden");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_my_work_shows_each_verdict_in_place_and_again_after_reload() {
    let Some(driver) = start_driver() else { return };
    // Step 4 begun: the namespace is there, the service account is not.
    let mut started = kind::ha_cluster();
    started.push(kind::namespace("monitoring"));
    let cluster = FakeCluster::start(started.clone()).await;
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    let browser = connect(&driver).await;
    let result = check_button(&browser, &app, &cluster, started).await;
    finish(browser, result, "check my work", &["SEVERE"]).await;
}

async fn check_button(
    browser: &Client,
    app: &TestApp,
    cluster: &FakeCluster,
    started: Vec<Value>,
) -> Result<(), fantoccini::error::CmdError> {
    const STEP: &str = ".check[data-step='monitoring-rbac']";
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    // Step 1's preflight: the cluster answers, with its context and version; focus on the answer.
    click(browser, "[data-preflight] button:not([hidden])").await?;
    let ready = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(".preflight-results .check-summary"))
        .await?;
    let text = ready.text().await?;
    assert!(
        text.starts_with("\u{2714} Your cluster answers: Kubernetes v1.36.")
            && text.ends_with("context kind-k8s-ha (the cluster in this server's kubeconfig)."),
        "{text}"
    );
    let all = browser
        .find(Locator::Css(".preflight-results"))
        .await?
        .text()
        .await?;
    assert!(
        all.contains("Not yet: context kind-solo (a later step's cluster): the kubeconfig has no context `kind-solo`"),
        "the later step's cluster is named: {all}"
    );
    let focused = browser
        .execute(
            "return document.activeElement.classList.contains('preflight-results');",
            vec![],
        )
        .await?;
    assert_eq!(focused, json!(true));
    let button = browser
        .wait()
        .for_element(Locator::Css(&format!("{STEP} .check-button:not([hidden])")))
        .await?;
    // The page scrolls smoothly; bring the button into view at once so the click lands on it.
    browser
        .execute(
            "arguments[0].scrollIntoView({ block: 'center', behavior: 'instant' });",
            vec![serde_json::to_value(&button)?],
        )
        .await?;
    button.click().await?;
    let summary = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{STEP} .check-summary")))
        .await?;
    assert!(
        summary.text().await?.starts_with("1 of 12 checks passed"),
        "{}",
        summary.text().await?
    );
    let items = browser
        .find_all(Locator::Css(&format!("{STEP} .check-item")))
        .await?;
    assert_eq!(items.len(), 12);
    let first = items[1].text().await?;
    assert!(
        first.contains("ServiceAccount monitoring/control-plane-monitor not found"),
        "{first}"
    );
    assert!(first.contains("Hint: Create it with kubectl -n monitoring create serviceaccount control-plane-monitor."), "{first}");
    // The hint's code span is code, not backticks.
    let code = items[1]
        .find(Locator::Css(".check-hint code"))
        .await?
        .text()
        .await?;
    assert_eq!(
        code,
        "kubectl -n monitoring create serviceaccount control-plane-monitor"
    );
    // Focus moved to the verdict; the step's heading and its table-of-contents entry show it.
    let focused = browser
        .execute(
            "return document.activeElement.classList.contains('check-results') && document.activeElement.closest('.check').dataset.step;",
            vec![],
        )
        .await?;
    assert_eq!(focused, json!("monitoring-rbac"));
    let marks = browser
        .execute(
            "return Array.from(document.querySelectorAll('.step-state.step-failed')).map(function (m) { return m.closest('a').getAttribute('href'); });",
            vec![],
        )
        .await?;
    assert_eq!(
        marks,
        json!(["#step-4-monitoring-rbac", "#step-4-monitoring-rbac"]),
        "the heading's anchor and the TOC entry"
    );
    assert_eq!(
        button.attr("aria-label").await?.as_deref(),
        Some("Check my work: step 4")
    );
    assert_eq!(
        button.text().await?,
        "Check my work",
        "the button is ready again"
    );

    browser.refresh().await?;
    let summary = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("{STEP} .check-summary")))
        .await?;
    assert!(
        summary.text().await?.starts_with("1 of 12 checks passed"),
        "last run shown again after reload"
    );

    // Done, then undone: the pass is kept, on the step, in the table of contents and in words.
    let check_now = || async {
        click(browser, &format!("{STEP} .check-button")).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let done = browser
                .execute(
                    &format!("return document.querySelector(\"{STEP} .check-button\").getAttribute('aria-busy') === null;"),
                    vec![],
                )
                .await?;
            if done == json!(true) || Instant::now() > deadline {
                return Ok::<(), fantoccini::error::CmdError>(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    cluster.set_objects(kind::lab_complete());
    check_now().await?;
    let text = |css: String| async move { browser.find(Locator::Css(&css)).await?.text().await };
    assert!(
        text(format!("{STEP} .check-summary"))
            .await?
            .starts_with("12 of 12 checks passed")
    );
    cluster.set_objects(started);
    check_now().await?;
    for _ in 0..2 {
        assert!(
            text(format!("{STEP} .check-summary"))
                .await?
                .starts_with("1 of 12 checks passed")
        );
        let kept = text(format!("{STEP} .check-pass-kept")).await?;
        assert!(
            kept.starts_with("Now: 11 checks fail; your pass from ") && kept.ends_with(" is kept."),
            "{kept}"
        );
        let marks = passed_marks(browser).await?;
        assert_eq!(
            marks,
            json!(["#step-4-monitoring-rbac", "#step-4-monitoring-rbac"]),
            "still passed on the heading and in the TOC"
        );
        browser.refresh().await?;
        browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(&format!("{STEP} .check-pass-kept")))
            .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_step_turns_green_as_the_cluster_changes_without_a_click() {
    let Some(driver) = start_driver() else { return };
    let cluster = FakeCluster::start(kind::single_node_cluster("kind")).await;
    let app = TestApp::spawn_with_cluster(&cluster.kubeconfig).await;
    let browser = connect(&driver).await;
    let result = turns_green_live(&browser, &app, &cluster).await;
    finish(browser, result, "live checks", &["SEVERE"]).await;
}

async fn turns_green_live(
    browser: &Client,
    app: &TestApp,
    cluster: &FakeCluster,
) -> Result<(), fantoccini::error::CmdError> {
    const STEP: &str = ".check[data-step='create-ha-cluster']";
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    click(browser, &format!("{STEP} .start-button:not([hidden])")).await?;
    let text = |css: String| async move { browser.find(Locator::Css(&css)).await?.text().await };
    let wait_for_text = |css: String, wanted: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let now = browser
                .find(Locator::Css(&css))
                .await?
                .text()
                .await
                .unwrap_or_default();
            if now.contains(wanted) {
                return Ok::<String, fantoccini::error::CmdError>(now);
            }
            assert!(
                Instant::now() < deadline,
                "{css}: {now:?}, waiting for {wanted:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_for_text(format!("{STEP} .check-live"), "Watching your cluster").await?;
    // The verdict on the cluster as it is arrives by itself: not done yet.
    wait_for_text(format!("{STEP} .check-summary"), "checks passed").await?;
    assert!(
        !text(format!("{STEP} .check-summary"))
            .await?
            .starts_with("5 of 5")
    );
    assert_eq!(text(format!("{STEP} .start-button")).await?, "Start again");

    // The learner finishes the step in their terminal; nobody clicks.
    cluster.set_objects(kind::lab_complete());
    wait_for_text(format!("{STEP} .check-summary"), "5 of 5 checks passed").await?;
    let marks = passed_marks(browser).await?;
    assert_eq!(
        marks,
        json!(["#step-2-create-ha-cluster", "#step-2-create-ha-cluster"]),
        "passed on the heading and in the TOC"
    );
    // Following ends with the pass, and the pass is there after a reload.
    let deadline = Instant::now() + Duration::from_secs(5);
    let hidden = format!("return document.querySelector(\"{STEP} .check-live\").hidden;");
    while browser.execute(&hidden, vec![]).await? != json!(true) {
        assert!(Instant::now() < deadline, "no longer watching once passed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.refresh().await?;
    wait_for_text(format!("{STEP} .check-summary"), "5 of 5 checks passed").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_answers_an_instructor_grades_and_the_learner_sees_the_grade() {
    use lectern::auth::Role;
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn_portal().await;
    for (name, role) in [("ada", Role::Learner), ("ines", Role::Instructor)] {
        app.add_account(name, role, Some("blue")).await;
    }
    let browser = connect(&driver).await;
    let result = answer_and_grade(&browser, &app).await;
    finish(browser, result, "answering and grading", &["SEVERE"]).await;
}

use common::PASSWORD;
const OPEN_FORM: &str = "form.answer[data-question='api-server-role']";

async fn sign_in(
    browser: &Client,
    app: &TestApp,
    name: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/sign-in")).await?;
    browser
        .find(Locator::Id("username"))
        .await?
        .send_keys(name)
        .await?;
    browser
        .find(Locator::Id("password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    browser
        .find(Locator::Css("form.form button[type='submit']"))
        .await?
        .click()
        .await?;
    browser
        .wait()
        .for_element(Locator::Css("nav.account"))
        .await?;
    Ok(())
}

async fn sign_out(browser: &Client) -> Result<(), fantoccini::error::CmdError> {
    click(browser, "form.sign-out button").await?;
    browser.wait().for_element(Locator::Id("username")).await?;
    Ok(())
}

/// Where the page marks a step passed: the links (heading and table of contents) with a ✓.
async fn passed_marks(browser: &Client) -> Result<Value, fantoccini::error::CmdError> {
    browser
        .execute(
            "return Array.from(document.querySelectorAll('.step-state.step-passed')).map(function (m) { return m.closest('a').getAttribute('href'); });",
            vec![],
        )
        .await
}

/// Clicks an element after bringing it into view and waiting until it stays where it is: the pages
/// scroll smoothly, and mermaid's diagrams change the layout above it as they render (later on a
/// busy machine), which would move it away between the scroll and the click.
async fn click(browser: &Client, css: &str) -> Result<(), fantoccini::error::CmdError> {
    let element = browser.wait().for_element(Locator::Css(css)).await?;
    let arguments = vec![serde_json::to_value(&element)?];
    let scroll_then_top = "arguments[0].scrollIntoView({ block: 'center', behavior: 'instant' });
        return arguments[0].getBoundingClientRect().top;";
    let top = "return arguments[0].getBoundingClientRect().top;";
    let mut placed = browser.execute(scroll_then_top, arguments.clone()).await?;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if browser.execute(top, arguments.clone()).await? == placed {
            break;
        }
        placed = browser.execute(scroll_then_top, arguments.clone()).await?;
    }
    element.click().await
}

async fn answer_and_grade(
    browser: &Client,
    app: &TestApp,
) -> Result<(), fantoccini::error::CmdError> {
    // The learner writes an answer in place and submits it.
    sign_in(browser, app, "ada").await?;
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let area = browser
        .wait()
        .for_element(Locator::Css(&format!("{OPEN_FORM} textarea")))
        .await?;
    area.send_keys("Only the API server talks to etcd; every request is authenticated, authorized and admitted. <b>bold?</b>")
        .await?;
    click(browser, &format!("{OPEN_FORM} button[type='submit']")).await?;
    let status = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("{OPEN_FORM} .answer-submitted")))
        .await?;
    assert!(
        status.text().await?.starts_with("Submitted · "),
        "{}",
        status.text().await?
    );
    sign_out(browser).await?;

    // The instructor grades it from the queue, then releases the question's grades.
    sign_in(browser, app, "ines").await?;
    browser.goto(&app.url("/instructor/grading")).await?;
    click(browser, "table.grading-queue a").await?;
    let model = browser
        .wait()
        .for_element(Locator::Css(".model-answer"))
        .await?;
    assert!(model.text().await?.contains("watch cache"));
    let shown = browser
        .find(Locator::Css(".learner-answer"))
        .await?
        .text()
        .await?;
    assert!(
        shown.ends_with("<b>bold?</b>"),
        "the answer is shown as text: {shown}"
    );
    for (i, score) in ["3", "3", "1", "0"].iter().enumerate() {
        browser
            .find(Locator::Id(&format!("score-{i}")))
            .await?
            .send_keys(score)
            .await?;
    }
    browser
        .find(Locator::Id("feedback"))
        .await?
        .send_keys("Name the admission phases. <i>not italic</i>")
        .await?;
    click(browser, ".grade-form button[type='submit']").await?;
    // Wait for the notice by its text: the page being left may hold an older notice.
    let notice = |text: &str| {
        format!("//p[contains(@class, 'form-ok') and starts-with(normalize-space(.), '{text}')]")
    };
    browser
        .wait()
        .for_element(Locator::XPath(&notice("Grade saved.")))
        .await?;
    click(
        browser,
        "form:has(input[name='release_question'][value='api-server-role']) button",
    )
    .await?;
    // Release says what it publishes and asks first.
    let summary = browser
        .wait()
        .for_element(Locator::Css(".release-summary"))
        .await?
        .text()
        .await?;
    assert_eq!(summary, "1 graded answer will be shown now.");
    click(
        browser,
        "form:has(input[name='confirm']) button[type='submit']",
    )
    .await?;
    browser
        .wait()
        .for_element(Locator::XPath(&notice(
            "Released the grades of 1 question: learners see them now.",
        )))
        .await?;
    sign_out(browser).await?;

    // The learner sees the grade, the rubric breakdown and the feedback, as text.
    sign_in(browser, app, "ada").await?;
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let grade = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!(
            "{OPEN_FORM} .answer-grade:not([hidden])"
        )))
        .await?;
    let text = grade.text().await?;
    assert!(text.contains("3 of 4: Request pipeline in order"), "{text}");
    assert!(text.contains("Feedback from your instructor"), "{text}");
    assert!(
        text.contains("Name the admission phases. <i>not italic</i>"),
        "{text}"
    );
    let status = browser
        .find(Locator::Css(&format!("{OPEN_FORM} .answer-status")))
        .await?
        .text()
        .await?;
    assert!(
        status.starts_with("Graded: 7 of 10 points · "),
        "the state and score first: {status}"
    );
    assert!(
        !status.contains("version 1"),
        "no version jargon for a first version"
    );
    let area = browser
        .find(Locator::Css(&format!("{OPEN_FORM} textarea")))
        .await?;
    assert_eq!(
        area.attr("disabled").await?.as_deref(),
        Some("true"),
        "a graded answer is closed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_pairs_connects_and_checks_their_own_cluster() {
    use lectern::auth::Role;
    let Some(driver) = start_driver() else { return };
    let cluster = FakeCluster::start(kind::ha_cluster()).await;
    let app = TestApp::spawn_portal().await;
    app.add_account("ada", Role::Learner, Some("blue")).await;
    let config = tempfile::tempdir().unwrap();
    let browser = connect(&driver).await;
    let mut bridge = None;
    let result = pair_connect_and_check(&browser, &app, &cluster, config.path(), &mut bridge).await;
    drop(bridge);
    finish(browser, result, "connecting a cluster", &["SEVERE"]).await;
}

const PANEL: &str = "[data-bridge-panel]";

async fn pair_connect_and_check(
    browser: &Client,
    app: &TestApp,
    cluster: &FakeCluster,
    config: &std::path::Path,
    bridge: &mut Option<tokio::process::Child>,
) -> Result<(), fantoccini::error::CmdError> {
    sign_in(browser, app, "ada").await?;
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let panel = browser
        .wait()
        .for_element(Locator::Css(&format!("{PANEL}.bridge-disconnected")))
        .await?;
    assert!(
        panel
            .text()
            .await?
            .starts_with("Your cluster is not connected. Run lectern connect http://127.0.0.1:"),
        "{}",
        panel.text().await?
    );

    browser.goto(&app.url("/connect")).await?;
    click(browser, "form[action='/connect/code'] button").await?;
    let command = browser
        .wait()
        .for_element(Locator::Css(".bridge-command"))
        .await?
        .text()
        .await?;
    browser
        .find(Locator::Css(
            ".code-block:has(.bridge-command) button.copy:not([hidden])",
        ))
        .await?;
    let code = command
        .split("--code ")
        .nth(1)
        .expect("a code")
        .trim()
        .to_owned();
    let mut cmd = tokio::process::Command::from(common::lectern_cmd());
    cmd.args(["connect", &app.url(""), "--code", &code, "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .env("LECTERN_CONFIG_DIR", config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    *bridge = Some(cmd.spawn().expect("lectern connect starts"));

    // The Connect page shows the bridge coming up, without a reload.
    let status = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("[data-bridge-status] p.bridge-connected"))
        .await?;
    let text = status.text().await?;
    assert!(
        text.starts_with("Connected since ")
            && text.contains("context kind-k8s-ha, Kubernetes v1.36.0"),
        "{text}"
    );

    // The panel turns without a reload once the bridge is up.
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let panel = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{PANEL}.bridge-connected")))
        .await?;
    assert!(
        panel
            .text()
            .await?
            .contains("context kind-k8s-ha, Kubernetes v1.36.0"),
        "{}",
        panel.text().await?
    );
    const STEP: &str = ".check[data-step='monitoring-rbac']";
    click(browser, &format!("{STEP} .check-button:not([hidden])")).await?;
    let summary = browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{STEP} .check-summary")))
        .await?;
    assert!(
        summary.text().await?.starts_with("0 of 12 checks passed"),
        "{}",
        summary.text().await?
    );

    // The drill, done with the page closed: Start, leave the page, pause a node; the pass is
    // there on coming back, and kept once the node is back.
    const DRILL: &str = ".check[data-step='lose-a-control-plane-node']";
    let healthy = kind::with_monitoring_rbac(kind::ha_cluster());
    cluster.set_objects(healthy.clone());
    click(browser, &format!("{DRILL} .start-button:not([hidden])")).await?;
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{DRILL} .check-live:not([hidden])")))
        .await?;
    browser.goto(&app.url("/connect")).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.watches_of("leases") == 0 {
        assert!(Instant::now() < deadline, "the drill is not watched");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut outage = healthy.clone();
    kind::pause_node(&mut outage, "k8s-ha-control-plane");
    kind::create_probe(&mut outage);
    cluster.set_objects(outage);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        browser
            .goto(&app.url("/modules/cluster-architecture"))
            .await?;
        browser
            .wait()
            .for_element(Locator::Css(&format!("{DRILL} .check-button")))
            .await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let marks = passed_marks(browser).await?;
        if marks
            .to_string()
            .contains("#step-5-lose-a-control-plane-node")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the drill never passed: {marks}");
    }
    cluster.set_objects(healthy);
    click(browser, &format!("{DRILL} .check-button:not([hidden])")).await?;
    // The page shows "Passed at …" until the new run's answer says what fails now.
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{DRILL} .check-summary.check-kept")))
        .await?;
    let note = browser
        .find(Locator::Css(&format!("{DRILL} .check-pass-kept")))
        .await?
        .text()
        .await?;
    assert!(
        note.starts_with("Now: ") && note.ends_with(" is kept."),
        "{note}"
    );
    // After a reload the step is still marked passed, and its latest run still says so.
    browser.refresh().await?;
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{DRILL} .check-summary.check-kept")))
        .await?;
    let marks = passed_marks(browser).await?;
    assert!(
        marks
            .to_string()
            .contains("#step-5-lose-a-control-plane-node"),
        "{marks}"
    );

    // The learner stops lectern connect: the panel says so, still without a reload.
    if let Some(mut child) = bridge.take() {
        child.kill().await.ok();
    }
    browser
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(&format!("{PANEL}.bridge-disconnected")))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsaved_answer_text_survives_a_reload_and_leaving_asks_first() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let browser = connect(&driver).await;
    let result = keep_unsaved_text(&browser, &app).await;
    finish(browser, result, "keeping unsaved text", &["SEVERE"]).await;
}

async fn keep_unsaved_text(
    browser: &Client,
    app: &TestApp,
) -> Result<(), fantoccini::error::CmdError> {
    const AREA: &str = "form.answer[data-question='api-server-role'] textarea";
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let area = browser.wait().for_element(Locator::Css(AREA)).await?;
    browser
        .execute(
            "arguments[0].scrollIntoView({ block: 'center', behavior: 'instant' });",
            vec![serde_json::to_value(&area)?],
        )
        .await?;
    area.send_keys("The API server authenticates").await?;
    // Leaving now would ask first.
    let asks = browser
        .execute(
            "var e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented;",
            vec![],
        )
        .await?;
    assert_eq!(asks, json!(true));
    // Reload without the prompt (headless Chromium would block on it): the text comes back.
    browser
        .execute(
            "document.querySelectorAll('form[data-dirty]').forEach(function (f) { delete f.dataset.dirty; });",
            vec![],
        )
        .await?;
    browser.refresh().await?;
    let status = browser
        .wait()
        .for_element(Locator::XPath(
            "//form[@data-question='api-server-role']//*[contains(@class, 'answer-status') and contains(., 'restored your unsaved text')]",
        ))
        .await?;
    assert!(
        status
            .text()
            .await?
            .contains("restored your unsaved text from this browser")
    );
    let text = browser
        .find(Locator::Css(AREA))
        .await?
        .prop("value")
        .await?;
    assert_eq!(text.as_deref(), Some("The API server authenticates"));
    // Saving forgets the browser's copy: nothing to warn about any more.
    click(
        browser,
        "form.answer[data-question='api-server-role'] [data-action='draft']",
    )
    .await?;
    browser
        .wait()
        .for_element(Locator::XPath(
            "//form[@data-question='api-server-role']//*[contains(@class, 'answer-status') and starts-with(normalize-space(.), 'Draft saved')]",
        ))
        .await?;
    let asks = browser
        .execute(
            "var e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented;",
            vec![],
        )
        .await?;
    assert_eq!(asks, json!(false));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_watch_an_open_page_reloads_itself_when_the_course_changes() {
    let Some(driver) = start_driver() else { return };
    let course = common::course_copy();
    let app = TestApp::spawn_with_content(course.path(), true).await;
    let browser = connect(&driver).await;
    let result = reload_on_edit(&browser, &app, course.path()).await;
    finish(browser, result, "live reload", &["SEVERE"]).await;
}

async fn reload_on_edit(
    browser: &Client,
    app: &TestApp,
    course: &std::path::Path,
) -> Result<(), fantoccini::error::CmdError> {
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    browser.wait().for_element(Locator::Css("h1")).await?;
    // Something only this load of the page has: gone if the page reloads.
    browser
        .execute("window.loadedBeforeTheEdit = true;", vec![])
        .await?;
    common::edit(
        &common::module_dir(course).join("module.md"),
        "## Why it matters",
        "## Why it matters, edited live",
    );
    browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Id("why-it-matters-edited-live"))
        .await?;
    let same_load = browser
        .execute("return window.loadedBeforeTheEdit === true;", vec![])
        .await?;
    assert_eq!(same_load, json!(false), "the page reloaded itself");

    // Reading mid-page, the author saves a mistake: the page reloads where it was, and the
    // errors are in view there, not only at the top.
    browser
        .execute(
            "window.scrollTo(0, document.body.scrollHeight / 2);",
            vec![],
        )
        .await?;
    common::edit(
        &common::module_dir(course).join("module.toml"),
        "title =",
        "titel =",
    );
    let banner = browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css(".content-errors"))
        .await?;
    assert!(banner.text().await?.contains("titel"));
    let in_view = browser
        .execute(
            "const r = document.querySelector('.content-errors').getBoundingClientRect(); return window.scrollY > 0 && r.top >= 0 && r.top < window.innerHeight;",
            vec![],
        )
        .await?;
    assert_eq!(
        in_view,
        json!(true),
        "the errors are where the author reads"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_alone_marks_their_choices_and_scores_their_written_answer() {
    let Some(driver) = start_driver() else { return };
    let app = TestApp::spawn().await;
    let browser = connect(&driver).await;
    let result = answer_alone(&browser, &app).await;
    finish(browser, result, "answering in personal mode", &["SEVERE"]).await;
}

async fn answer_alone(browser: &Client, app: &TestApp) -> Result<(), fantoccini::error::CmdError> {
    const CHOICE: &str = "form.answer[data-question='watchers']";
    const OPEN: &str = "form.answer[data-question='api-server-role']";
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let meta = browser
        .find(Locator::Css("#question-watchers .question-meta"))
        .await?
        .text()
        .await?;
    assert!(meta.contains("no partial credit"), "{meta}");

    // Choices: each option chosen is marked "Your answer" once submitted.
    click(browser, &format!("{CHOICE} input[value='0']")).await?;
    click(browser, &format!("{CHOICE} input[value='2']")).await?;
    click(browser, &format!("{CHOICE} button[type='submit']")).await?;
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("{CHOICE} .your-answer")))
        .await?;
    let focused = browser
        .execute(
            "return document.activeElement.classList.contains('answer-status') && document.activeElement.closest('form').dataset.question;",
            vec![],
        )
        .await?;
    assert_eq!(
        focused,
        json!("watchers"),
        "focus moves to the result after Submit"
    );
    let marked = browser
        .execute(
            &format!("return Array.from(document.querySelectorAll(\"{CHOICE} .choice-selected input\")).map(i => i.value);"),
            vec![],
        )
        .await?;
    assert_eq!(marked, json!(["0", "2"]));

    // A written answer: no instructor here, so the learner compares and scores it.
    let meta = browser
        .find(Locator::Css("#question-api-server-role .question-meta"))
        .await?
        .text()
        .await?;
    assert!(meta.contains("score it yourself"), "{meta}");
    browser
        .find(Locator::Css(&format!("{OPEN} textarea")))
        .await?
        .send_keys("Every request is authenticated, authorized and admitted, then stored in etcd.")
        .await?;
    let submit = browser
        .find(Locator::Css(&format!("{OPEN} button[type='submit']")))
        .await?;
    assert_eq!(
        submit.attr("aria-label").await?.as_deref(),
        Some("Submit: question 8"),
        "a name of its own"
    );
    click(browser, &format!("{OPEN} button[type='submit']")).await?;
    click(browser, ".self-assess-open").await?;
    let focused = browser
        .execute(
            &format!("return document.querySelector(\"{OPEN} .answer-status\").textContent;"),
            vec![],
        )
        .await?;
    assert!(
        focused
            .as_str()
            .unwrap_or_default()
            .starts_with("Submitted · "),
        "{focused}"
    );
    let model = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".self-assessment .model-answer-body p"))
        .await?;
    assert!(
        model
            .text()
            .await?
            .starts_with("The API server is the control plane")
    );
    for (i, score) in ["3", "2", "1", "0"].iter().enumerate() {
        browser
            .find(Locator::Id(&format!("self-api-server-role-{i}")))
            .await?
            .send_keys(score)
            .await?;
    }
    click(browser, ".self-assess-form button[type='submit']").await?;
    let assessed = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".self-assessment .self-assessed"))
        .await?;
    assert_eq!(
        assessed.text().await?,
        "Self-assessed: 6 of 10 points (your own scoring of version 1 against the rubric, not an instructor's grade)"
    );
    // After a reload, it is still there, and still not a grade.
    browser.refresh().await?;
    let assessed = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".self-assessment .self-assessed"))
        .await?;
    assert!(assessed.text().await?.starts_with("Self-assessed: 6 of 10"));
    let status = browser
        .find(Locator::Css(&format!("{OPEN} .answer-status")))
        .await?
        .text()
        .await?;
    assert!(status.starts_with("Submitted · "), "{status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_sent_after_the_session_ended_links_to_sign_in_and_comes_back() {
    let Some(driver) = start_driver() else { return };
    let app = common::grading::portal(TestApp::spawn_portal().await).await;
    let browser = connect(&driver).await;
    let result = session_ends_while_writing(&browser, &app).await;
    finish_expecting(
        browser,
        result,
        "a session ending while writing",
        &["SEVERE"],
        &["answer - Failed to load resource: the server responded with a status of 401"],
    )
    .await;
}

async fn session_ends_while_writing(
    browser: &Client,
    app: &TestApp,
) -> Result<(), fantoccini::error::CmdError> {
    const FORM: &str = "form.answer[data-question='api-server-role']";
    sign_in(browser, app, "ada").await?;
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    let area = browser
        .wait()
        .for_element(Locator::Css(&format!("{FORM} textarea")))
        .await?;
    browser
        .execute(
            "arguments[0].scrollIntoView({ block: 'center', behavior: 'instant' });",
            vec![serde_json::to_value(&area)?],
        )
        .await?;
    // An empty answer is refused in the page, without a request (a 422 would be logged).
    click(browser, &format!("{FORM} button[type='submit']")).await?;
    let empty = browser
        .find(Locator::Css(&format!("{FORM} .answer-status")))
        .await?
        .text()
        .await?;
    assert_eq!(empty, "Write your answer first: it is empty.");
    area.send_keys("The API server is the only door to etcd")
        .await?;
    // The session ends (expired, or signed out in another tab) while the learner writes.
    browser.delete_cookie("lectern_session").await?;
    click(browser, &format!("{FORM} button[type='submit']")).await?;
    let link = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("{FORM} .answer-status a")))
        .await?;
    let href = link.attr("href").await?.unwrap_or_default();
    assert!(
        href.starts_with("/sign-in?next=%2Fmodules%2Fcluster-architecture%23"),
        "{href}"
    );
    click(browser, &format!("{FORM} .answer-status a")).await?;
    browser
        .wait()
        .for_element(Locator::Id("username"))
        .await?
        .send_keys("ada")
        .await?;
    browser
        .find(Locator::Id("password"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    click(browser, "form.form button[type='submit']").await?;
    // Back on the module page, the text the server never received is there again.
    let status = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(
            "//form[@data-question='api-server-role']//*[contains(@class, 'answer-status') and contains(., 'restored your unsaved text')]",
        ))
        .await?;
    assert!(status.is_displayed().await?);
    let text = browser
        .find(Locator::Css(&format!("{FORM} textarea")))
        .await?
        .prop("value")
        .await?;
    assert_eq!(
        text.as_deref(),
        Some("The API server is the only door to etcd")
    );
    Ok(())
}
