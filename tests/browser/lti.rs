//! Lectern inside a learning platform's iframe, as Moodle and Canvas show it: the platform double's
//! course page (on another site) frames the launch, and the learner works in the frame.

use super::*;
use common::lti::{Launch, PlatformDouble, register};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_launched_in_the_platforms_iframe_works_there() {
    let Some(driver) = start_driver() else { return };
    let platform = PlatformDouble::start().await;
    let app = TestApp::spawn_portal().await;
    assert!(register(&app, &platform).await.status().is_success());
    platform.add_activity(
        &app.url(""),
        Launch::learner("sub-jo", "jo", &app.url("/modules/cluster-architecture")),
    );
    // Another page of the school's site, on another port: not the page that launched.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let elsewhere = format!(
        "http://localhost:{}/",
        listener.local_addr().unwrap().port()
    );
    let framed = app.url("/my-work");
    let other_page = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move {
            axum::response::Html(format!(
                "<!doctype html><html lang=\"en\"><title>Elsewhere</title>\
                 <iframe id=\"stolen\" title=\"Lectern\" src=\"{framed}\"></iframe></html>"
            ))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, other_page).await.ok() });

    let browser = connect(&driver).await;
    let result = work_in_the_frame(&browser, &app, &platform, &elsewhere).await;
    // The pages of the double have no icon; the refused frame is reported.
    let refused = format!("Framing '{}' violates", app.url("/"));
    finish_expecting(
        browser,
        result,
        "LTI in an iframe",
        &["SEVERE"],
        &["/favicon.ico", &refused],
    )
    .await;
    let (answers,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM answers JOIN accounts USING (learner_id) WHERE username = 'jo'",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert_eq!(answers, 1, "the answer written in the frame was saved");
}

async fn work_in_the_frame(
    browser: &Client,
    app: &TestApp,
    platform: &PlatformDouble,
    elsewhere: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&platform.course_page()).await?;
    let frame = browser
        .wait()
        .for_element(Locator::Css("iframe#activity"))
        .await?;
    frame.enter_frame().await?;
    // Login initiation, the platform's authorization, the posted launch: the learner lands signed
    // in on the module, inside the frame.
    let who = browser
        .wait()
        .at_most(Duration::from_secs(15))
        .for_element(Locator::Css("nav.account .account-name"))
        .await?;
    assert_eq!(who.text().await?, "jo (learner)");
    let here: String = browser
        .execute("return location.href", vec![])
        .await?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(here, app.url("/modules/cluster-architecture"));

    // The session cookie goes along inside the frame: a script's POST, then a link.
    let area = browser
        .wait()
        .for_element(Locator::Css(&format!("{OPEN_FORM} textarea")))
        .await?;
    area.send_keys("The API server alone talks to etcd.")
        .await?;
    click(browser, &format!("{OPEN_FORM} button[type='submit']")).await?;
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("{OPEN_FORM} .answer-submitted")))
        .await?;
    click(browser, "nav.account a[href='/my-work']").await?;
    let heading = browser
        .wait()
        .for_element(Locator::XPath("//h1[normalize-space(.)='My work']"))
        .await?;
    assert!(heading.is_displayed().await?);
    browser.enter_parent_frame().await?;

    // Nothing else may frame it, not even another page of the school's site: the frame holds
    // Chromium's error page for a response that forbids it.
    browser.goto(elsewhere).await?;
    let frame = browser
        .wait()
        .for_element(Locator::Css("iframe#stolen"))
        .await?;
    frame.enter_frame().await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let inside = browser
            .execute(
                "return location.href + ' ' + document.documentElement.outerHTML",
                vec![],
            )
            .await?;
        let inside = inside.as_str().unwrap_or_default();
        if inside.starts_with("chrome-error:") && inside.contains("ERR_BLOCKED_BY_RESPONSE") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the browser did not refuse to frame Lectern elsewhere: {inside}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
