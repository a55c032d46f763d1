//! `--watch`: edits show up, broken edits keep the last good version and say why.

use std::time::{Duration, Instant};

use crate::common::events::next_chunk;
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

/// The next server-sent event's `data`, within a few seconds.
async fn next_version(events: &mut reqwest::Response, buffer: &mut String) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                assert!(event.contains("event: version\n"), "{event}");
                return data.to_owned();
            }
            continue; // a keep-alive comment
        }
        assert!(
            next_chunk(events, buffer, deadline).await,
            "the stream stays open"
        );
    }
}

#[tokio::test]
async fn open_pages_are_told_when_the_course_changes() {
    let course = course_copy();
    let app = TestApp::spawn_with_content(course.path(), true).await;
    let page = app.get_ok_text("/modules/cluster-architecture").await;
    let build = page
        .split("<meta name=\"lectern-live-reload\" content=\"/api/live-reload\" data-build=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("pages carry their build under --watch")
        .to_owned();

    let mut events = app.get("/api/live-reload").await;
    assert_eq!(events.status(), 200);
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    assert_eq!(
        next_version(&mut events, &mut buffer).await,
        build,
        "the current build first: the page is current"
    );

    let md = module_dir(course.path()).join("module.md");
    edit(&md, "## Why it matters", "## Why it matters now");
    let edited = next_version(&mut events, &mut buffer).await;
    assert_ne!(edited, build, "after the edit");
    let page = app.get_ok_text("/modules/cluster-architecture").await;
    assert!(page.contains(&format!("data-build=\"{edited}\"")));
    // A broken edit is news too: the page shows the error banner.
    edit(
        &md,
        "## Why it matters now\n",
        "## Why it matters now\n\n[dead](#nowhere)\n",
    );
    let broken = next_version(&mut events, &mut buffer).await;
    assert_ne!(broken, edited);
}

#[tokio::test]
async fn without_watch_pages_do_not_listen() {
    let app = TestApp::spawn().await;
    let page = app.get_ok_text("/modules/cluster-architecture").await;
    assert!(!page.contains("lectern-live-reload"));
    let response = app.get("/api/live-reload").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        "Pages reload themselves only under `lectern serve --watch`."
    );
}

#[tokio::test]
async fn a_learner_holds_one_reload_stream_per_page_and_sixteen_in_all() {
    let course = course_copy();
    let app = TestApp::spawn_with_content(course.path(), true).await;
    let mut first = app
        .get("/api/live-reload?page=/modules/cluster-architecture")
        .await;
    let mut buffer = String::new();
    next_version(&mut first, &mut buffer).await;
    // The page reloaded: its new stream replaces the old one, which is told so and ends.
    let _again = app
        .get("/api/live-reload?page=/modules/cluster-architecture")
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !buffer.contains("event: replaced") {
        assert!(
            next_chunk(&mut first, &mut buffer, deadline).await,
            "the replaced stream says so before it ends"
        );
    }
    assert!(
        !next_chunk(&mut first, &mut buffer, deadline).await,
        "then it ends"
    );
    let mut held = Vec::new();
    for i in 1..16 {
        let stream = app.get(&format!("/api/live-reload?page=/p{i}")).await;
        assert_eq!(stream.status(), 200, "stream {i}");
        held.push(stream);
    }
    let refused = app.get("/api/live-reload?page=/p99").await;
    assert_eq!(refused.status(), 429);
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.get("/api/live-reload?page=/p99").await.status(), 200);
}
