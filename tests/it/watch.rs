//! `--watch`: edits show up, broken edits keep the last good version and say why.

use std::time::{Duration, Instant};

use crate::common::{TestApp, course_copy, edit, module_dir};

async fn wait_for(
    app: &TestApp,
    path: &str,
    what: &str,
    predicate: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let html = app.get_ok_text(path).await;
        if predicate(&html) {
            return html;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn edits_are_rendered_and_broken_edits_keep_the_last_good_version() {
    let course = course_copy();
    let app = TestApp::spawn_with_content(course.path(), true).await;
    let md = module_dir(course.path()).join("module.md");

    edit(&md, "## Why it matters", "## Why it really matters");
    wait_for(&app, "/modules/cluster-architecture", "the edit", |h| {
        h.contains("id=\"why-it-really-matters\"")
    })
    .await;

    edit(
        &md,
        "## Why it really matters\n",
        "## Why it really matters\n\n[dead](#no-such-anchor)\n",
    );
    let html = wait_for(
        &app,
        "/modules/cluster-architecture",
        "the error banner",
        |h| h.contains("content-errors"),
    )
    .await;
    assert!(html.contains("modules/01-cluster-architecture/module.md:3:1: link to missing anchor `#no-such-anchor`"), "{html}");
    assert!(
        html.contains("id=\"why-it-really-matters\""),
        "last good version still shown"
    );
    assert!(
        !html.contains("no-such-anchor\">dead"),
        "broken version not shown"
    );

    edit(
        &md,
        "[dead](#no-such-anchor)",
        "[alive](#why-it-really-matters)",
    );
    let html = wait_for(&app, "/modules/cluster-architecture", "the fix", |h| {
        !h.contains("content-errors")
    })
    .await;
    assert!(html.contains("href=\"#why-it-really-matters\">alive"));
}
