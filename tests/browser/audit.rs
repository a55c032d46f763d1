//! Every page type, as each role sees it, at 1400 px and 390 px wide, in light and dark: nothing
//! overflows the viewport, and axe-core (vendored: `axe.min.js`, MPL-2.0) finds no serious or
//! critical accessibility violation.

use super::*;
use lectern::auth::Role;

use common::browser::Browser;
use common::grading::{portal, submit};
use common::kube_api::Mode;

/// axe-core 4.14.1 from npm, injected into each page the test audits.
const AXE: &str = include_str!("axe.min.js");

/// The viewport widths every page must fit: a laptop and a phone.
const WIDTHS: [u32; 2] = [1400, 390];

/// chromedriver's Chrome DevTools Protocol passthrough, for `prefers-color-scheme: dark`.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "cmd": self.0, "params": self.1 }).to_string()),
        )
    }
}

async fn color_scheme(browser: &Client, scheme: &str) -> Result<(), fantoccini::error::CmdError> {
    browser
        .issue_cmd(Cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        ))
        .await?;
    Ok(())
}

/// Elements that stick out of the viewport, for the failure message.
const OVERFLOW: &str = r#"
const width = window.innerWidth;
if (document.documentElement.scrollWidth <= width) return null;
const clipped = e => { for (let a = e.parentElement; a; a = a.parentElement) {
  if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX)) return true; } return false; };
const culprits = Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > width + 1 && !clipped(e))
  .filter(e => !Array.from(e.children).some(c => c.getBoundingClientRect().right > width + 1))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
    + ' right=' + Math.round(e.getBoundingClientRect().right));
return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, culprits };
"#;

/// Runs axe on the page; answers its serious and critical violations.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] }).then(r => done(
  r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.id + ' (' + v.impact + '): ' + v.help + ' at '
      + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').split('\n').slice(1, 2).join('')).join(' | '))
), e => done(['axe failed: ' + e]));
"#;

/// Audits the page the browser is on at every width and scheme; appends what is wrong to `problems`.
async fn audit(
    browser: &Client,
    page: &str,
    problems: &mut Vec<String>,
) -> Result<(), fantoccini::error::CmdError> {
    browser
        .execute(&format!("{AXE}\nreturn true;"), vec![])
        .await?;
    for scheme in ["light", "dark"] {
        color_scheme(browser, scheme).await?;
        for width in WIDTHS {
            browser.set_window_size(width, 1000).await?;
            // Two frames: layout and the script's resize observers have run.
            let inner = browser
                .execute_async(
                    "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(window.innerWidth)));",
                    vec![],
                )
                .await?;
            assert_eq!(inner, json!(width), "the viewport is {width} px wide");
            let overflow = browser.execute(OVERFLOW, vec![]).await?;
            if !overflow.is_null() {
                problems.push(format!(
                    "{page} at {width} px ({scheme}) overflows: {overflow}"
                ));
            }
            let violations = browser.execute_async(RUN_AXE, vec![]).await?;
            for violation in violations.as_array().into_iter().flatten() {
                problems.push(format!(
                    "{page} at {width} px ({scheme}): {}",
                    violation.as_str().unwrap_or_default()
                ));
            }
        }
    }
    color_scheme(browser, "light").await?;
    keep_screenshot(browser, page).await?;
    browser.set_window_size(1280, 1000).await?;
    Ok(())
}

/// With `LECTERN_SCREENSHOTS=<dir>`, keeps each audited page as `<dir>/<page>.png` at 1400 px
/// (how the README's screenshots are made).
async fn keep_screenshot(browser: &Client, page: &str) -> Result<(), fantoccini::error::CmdError> {
    let Some(dir) = std::env::var_os("LECTERN_SCREENSHOTS") else {
        return Ok(());
    };
    let height = browser
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await?
        .as_u64()
        .unwrap_or(1000)
        .clamp(600, 2400) as u32;
    browser.set_window_size(1400, height).await?;
    let png = browser.screenshot().await?;
    let name: String = page
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = std::path::Path::new(&dir).join(format!("{}.png", name.trim_matches('-')));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_laptop_and_a_phone_and_passes_an_accessibility_audit() {
    let Some(driver) = start_driver() else { return };
    let mut started = kind::ha_cluster();
    started.push(kind::namespace("monitoring"));
    let cluster = FakeCluster::start(started).await;
    let app = portal(
        TestApp::spawn_with_config(|c| {
            c.portal = true;
            c.cluster.kubeconfig = Some(cluster.kubeconfig.clone());
        })
        .await,
    )
    .await;
    app.add_account("root", Role::Admin, None).await;

    // Something to show: ada ran checks and answered, grace ran a check.
    let ada = common::browser::signed_in(&app, "ada").await;
    for step in ["create-ha-cluster", "monitoring-rbac"] {
        let path = format!("/api/labs/ha-control-plane/steps/{step}/check");
        assert_eq!(ada.post_json(&path, "{}").await.status(), 200);
    }
    let (status, _) = submit(
        &ada,
        "api-server-role",
        json!({ "text": "Only the API server talks to etcd.", "submit": true }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = submit(
        &ada,
        "who-talks-to-etcd",
        json!({ "choices": [0], "submit": true }),
    )
    .await;
    assert_eq!(status, 200);
    let grace: Browser = common::browser::signed_in(&app, "grace").await;
    let path = "/api/labs/ha-control-plane/steps/monitoring-rbac/check";
    assert_eq!(grace.post_json(path, "{}").await.status(), 200);
    // A cohort in several states, for the picture: two further along, one who has not started.
    cluster.set_objects(kind::lab_done());
    for (name, steps) in [
        (
            "kim",
            &[
                "create-ha-cluster",
                "inspect-control-plane",
                "monitoring-rbac",
            ][..],
        ),
        ("lee", &["create-ha-cluster", "inspect-control-plane"][..]),
        ("max", &[][..]),
    ] {
        app.add_account(name, Role::Learner, Some("blue")).await;
        let learner = common::browser::signed_in(&app, name).await;
        for step in steps {
            let path = format!("/api/labs/ha-control-plane/steps/{step}/check");
            assert_eq!(learner.post_json(&path, "{}").await.status(), 200);
        }
    }

    let browser = connect(&driver).await;
    let mut problems = Vec::new();
    let result = audit_every_page(&browser, &app, &cluster, &mut problems).await;
    finish_expecting(
        browser,
        result,
        "auditing every page",
        &["SEVERE"],
        &[
            "steps/monitoring-rbac/check - Failed to load resource: the server responded with a status of 502",
        ],
    )
    .await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

async fn audit_every_page(
    browser: &Client,
    app: &TestApp,
    cluster: &FakeCluster,
    problems: &mut Vec<String>,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/sign-in")).await?;
    audit(browser, "/sign-in", problems).await?;
    browser.goto(&app.url("/modules/nope")).await?;
    audit(browser, "a page that is not there", problems).await?;

    sign_in(browser, app, "ada").await?;
    for path in ["/", "/my-work", "/connect", "/account/password"] {
        browser.goto(&app.url(path)).await?;
        audit(browser, path, problems).await?;
    }
    // Search from the box every page has: the results link to the sections.
    browser
        .find(Locator::Id("header-search-q"))
        .await?
        .send_keys("etcd snapshot\n")
        .await?;
    let first = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".search-results li a"))
        .await?;
    assert_eq!(
        first.attr("href").await?.as_deref(),
        Some("/modules/cluster-architecture#step-7-backup-and-restore"),
        "the restore step comes first"
    );
    audit(browser, "search results", problems).await?;
    browser
        .goto(&app.url("/modules/cluster-architecture"))
        .await?;
    browser
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("pre.mermaid svg"))
        .await?;
    audit(browser, "the module page", problems).await?;
    // A check the cluster refuses: the sentence, and the raw cause under Details, opened.
    cluster.set_mode(Mode::RejectCredentials);
    const STEP4: &str = ".check[data-step='monitoring-rbac']";
    click(browser, &format!("{STEP4} .check-button:not([hidden])")).await?;
    browser
        .wait()
        .for_element(Locator::Css(&format!("{STEP4} .check-detail")))
        .await?;
    browser
        .execute(
            "document.querySelectorAll('.check-detail').forEach(d => { d.open = true; });",
            vec![],
        )
        .await?;
    audit(browser, "a refused check with its Details open", problems).await?;
    cluster.set_mode(Mode::Normal);
    sign_out(browser).await?;

    sign_in(browser, app, "ines").await?;
    // Staff land on their teaching: what waits, which cohorts are behind, what happened last.
    browser.goto(&app.url("/")).await?;
    let waiting = browser
        .find(Locator::Css(".dashboard-figure"))
        .await?
        .text()
        .await?;
    assert_eq!(waiting, "1 answer waiting");
    audit(browser, "the staff home", problems).await?;
    for path in [
        "/instructor/grading",
        "/instructor/gradebook",
        "/instructor/gradebook?detail=criteria",
        "/instructor/cohort",
        "/instructor/stuck",
    ] {
        browser.goto(&app.url(path)).await?;
        audit(browser, path, problems).await?;
    }
    // The heatmap is one Tab stop; the arrow keys move between its cells.
    let stops = browser
        .execute(
            "return document.querySelectorAll('.heatmap td a[tabindex=\"0\"]').length + ' of ' + document.querySelectorAll('.heatmap td a').length;",
            vec![],
        )
        .await?;
    let stops = stops.as_str().unwrap_or_default().to_owned();
    assert!(stops.starts_with("1 of "), "{stops}");
    let label = |browser: &Client| {
        let browser = browser.clone();
        async move {
            browser
                .execute(
                    "return document.activeElement.getAttribute('aria-label');",
                    vec![],
                )
                .await
        }
    };
    browser
        .execute(
            "document.querySelector('.heatmap td a[tabindex=\"0\"]').focus();",
            vec![],
        )
        .await?;
    let first = label(browser).await?;
    browser
        .active_element()
        .await?
        .send_keys(&char::from(fantoccini::key::Key::Right).to_string())
        .await?;
    let second = label(browser).await?;
    assert_ne!(first, second, "the right arrow moved to the next cell");
    assert!(
        second.as_str().unwrap_or_default().contains(", step 2, "),
        "{second}"
    );
    browser.goto(&app.url("/instructor/cohort")).await?;
    click(browser, "a[href^='/instructor/learners/']").await?;
    browser
        .wait()
        .for_element(Locator::Css(".history-run"))
        .await?;
    browser
        .execute(
            "document.querySelectorAll('.history-run details').forEach(d => { d.open = true; });",
            vec![],
        )
        .await?;
    audit(
        browser,
        "a learner's history with the evidence open",
        problems,
    )
    .await?;
    browser.goto(&app.url("/instructor/grading")).await?;
    click(browser, "a[href^='/instructor/grading/answers/']").await?;
    browser
        .wait()
        .for_element(Locator::Css(".grade-form"))
        .await?;
    audit(browser, "grading an answer", problems).await?;
    // Blind grading: no name until the grade is saved; Full on every criterion adds up at once.
    browser.goto(&app.url("/instructor/grading")).await?;
    click(browser, "#filter-blind").await?;
    click(browser, ".grading-filter button[type='submit']").await?;
    browser
        .wait()
        .for_element(Locator::Css("#filter-blind:checked"))
        .await?;
    audit(browser, "the grading queue, blind", problems).await?;
    click(browser, "a[href^='/instructor/grading/answers/']").await?;
    let heading = browser
        .wait()
        .for_element(Locator::Css("h1"))
        .await?
        .text()
        .await?;
    assert!(heading.starts_with("Answer "), "{heading}");
    let current = browser
        .find(Locator::Css("nav.account a[aria-current='page']"))
        .await?
        .attr("href")
        .await?;
    assert_eq!(
        current.as_deref(),
        Some("/instructor/grading"),
        "the header marks where an answer being graded belongs"
    );
    let criteria = browser
        .find_all(Locator::Css(".score-shortcuts button:last-child"))
        .await?
        .len();
    assert!(criteria > 1, "a Full button per criterion");
    for i in 0..criteria {
        click(
            browser,
            &format!(".score-shortcuts button[data-for='score-{i}']:last-child"),
        )
        .await?;
    }
    let total = browser
        .find(Locator::Id("grade-total"))
        .await?
        .text()
        .await?;
    assert_eq!(total, "10", "every criterion's full points, added up");
    audit(browser, "grading an answer, blind", problems).await?;
    click(browser, "button[value='stay']").await?;
    browser.wait().for_element(Locator::Css(".form-ok")).await?;
    let heading = browser.find(Locator::Css("h1")).await?.text().await?;
    assert!(
        heading.starts_with("ada · Q8"),
        "graded, so named: {heading}"
    );
    browser.goto(&app.url("/instructor/grading")).await?;
    click(browser, ".release-module button").await?;
    browser
        .wait()
        .for_element(Locator::Css(".release-summary"))
        .await?;
    audit(browser, "confirming a release", problems).await?;
    sign_out(browser).await?;

    sign_in(browser, app, "root").await?;
    for path in ["/admin/users", "/admin/clusters", "/admin/lti"] {
        browser.goto(&app.url(path)).await?;
        audit(browser, path, problems).await?;
    }
    // Everyone: filtered by what is typed, sorted by a column, descending on a second click.
    browser.goto(&app.url("/admin/users")).await?;
    let visible_names = "return Array.from(document.querySelectorAll('#accounts-table tbody tr')).filter(r => !r.hidden).map(r => r.cells[0].textContent.trim());";
    browser
        .find(Locator::Id("accounts-filter"))
        .await?
        .send_keys("gr")
        .await?;
    assert_eq!(
        browser.execute(visible_names, vec![]).await?,
        json!(["grace"]),
        "the filter keeps the rows that contain it"
    );
    browser
        .execute(
            "const f = document.getElementById('accounts-filter'); f.value = ''; f.dispatchEvent(new Event('input'));",
            vec![],
        )
        .await?;
    click(browser, "#accounts-table thead th:first-child button").await?;
    click(browser, "#accounts-table thead th:first-child button").await?;
    let names = browser.execute(visible_names, vec![]).await?;
    let names: Vec<String> = serde_json::from_value(names).unwrap_or_default();
    let mut descending = names.clone();
    descending.sort_by(|a, b| b.cmp(a));
    assert_eq!(names, descending, "sorted by name, descending");
    assert!(names.len() > 3, "{names:?}");
    click(browser, "table.accounts a[href^='/admin/users/']").await?;
    browser
        .wait()
        .for_element(Locator::Css("form[action$='/password']"))
        .await?;
    audit(browser, "an account", problems).await?;
    // A cohort imported with one bad line: credentials to hand over, the line back to correct.
    browser.goto(&app.url("/admin/users")).await?;
    browser
        .find(Locator::Id("csv"))
        .await?
        .send_keys("noor,learner,spring\nomar,teacher,spring")
        .await?;
    click(browser, "form[action='/admin/users/import'] button").await?;
    browser
        .wait()
        .for_element(Locator::Css(".credentials-download"))
        .await?;
    audit(
        browser,
        "an import with credentials and a failed line",
        problems,
    )
    .await?;
    Ok(())
}
