//! Single sign-on end to end: Lectern and the OpenID-certified `oidc-provider` on loopback, driven
//! through their real pages in headless Chromium.

use super::*;
use common::oidc::{NodeProvider, secret_file, sso_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_sign_in_through_the_organisations_provider_with_their_mapped_role() {
    let Some(driver) = start_driver() else { return };
    let provider_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let secret = secret_file(dir.path());
    let app = TestApp::spawn_with_config(|c| {
        sso_config(c, &format!("http://127.0.0.1:{provider_port}"), secret)
    })
    .await;
    // Started after Lectern: Lectern finds the provider at the first sign-in.
    let Some(provider) = NodeProvider::start(
        provider_port,
        &app.url("/sign-in/oidc/callback"),
        &app.url("/sign-in"),
    )
    .await
    else {
        return;
    };
    let browser = connect(&driver).await;
    let result = sign_in_through_the_provider(&browser, &app).await;
    // The provider's development pages ask for a web font and a favicon it does not have.
    let favicon = format!("{}/favicon.ico", provider.issuer);
    finish_expecting(
        browser,
        result,
        "single sign-on",
        &["SEVERE"],
        &["https://fonts.googleapis.com/", &favicon],
    )
    .await;
}

async fn provider_sign_in(
    browser: &Client,
    app: &TestApp,
    who: &str,
) -> Result<String, fantoccini::error::CmdError> {
    browser.goto(&app.url("/sign-in?next=/my-work")).await?;
    click(browser, ".sso-button").await?;
    // The provider's own pages: sign in (any password), then allow Lectern.
    let login = browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name='login']"))
        .await;
    if login.is_err() {
        let url = browser.current_url().await?;
        let body = browser.find(Locator::Css("body")).await?.text().await?;
        panic!("no provider login page at {url}: {body}");
    }
    login?.send_keys(who).await?;
    browser
        .find(Locator::Css("input[name='password']"))
        .await?
        .send_keys("any password")
        .await?;
    browser
        .find(Locator::Css("button[type='submit']"))
        .await?
        .click()
        .await?;
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name='prompt'][value='consent']"))
        .await?;
    browser
        .find(Locator::Css("button[type='submit']"))
        .await?
        .click()
        .await?;
    let nav = match browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("nav.account .account-name"))
        .await
    {
        Ok(nav) => nav,
        Err(e) => {
            let url = browser.current_url().await?;
            let body = browser.find(Locator::Css("body")).await?.text().await?;
            panic!("not signed in at {url}: {body}: {e}");
        }
    };
    let url = browser.current_url().await?;
    assert_eq!(url.path(), "/my-work", "back where the person was going");
    nav.text().await
}

async fn sign_in_through_the_provider(
    browser: &Client,
    app: &TestApp,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&app.url("/sign-in")).await?;
    let button = browser.find(Locator::Css(".sso-button")).await?;
    assert_eq!(button.text().await?, "Sign in with Test IdP");
    let folded = browser
        .execute(
            "return document.querySelector('details.break-glass').open;",
            vec![],
        )
        .await?;
    assert_eq!(
        folded,
        json!(false),
        "passwords are for break-glass accounts only"
    );

    assert_eq!(
        provider_sign_in(browser, app, "ines").await?,
        "ines (instructor)"
    );
    sign_out(browser).await.ok();
    let again = browser
        .wait()
        .for_element(Locator::Css(".form-ok a"))
        .await?;
    let logout = again.attr("href").await?.unwrap_or_default();
    assert!(
        logout.contains("/session/end?client_id=lectern&post_logout_redirect_uri="),
        "the provider's logout is offered: {logout}"
    );
    // Signing out there too (the provider asks first) comes back to Lectern's sign-in page.
    again.click().await?;
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("button[name='logout'][value='yes']"))
        .await?
        .click()
        .await?;
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(".sso-button"))
        .await?;

    assert_eq!(
        provider_sign_in(browser, app, "ada").await?,
        "ada (learner)"
    );
    let (cohort,): (Option<String>,) =
        sqlx::query_as("SELECT cohort FROM accounts WHERE username = 'ada'")
            .fetch_one(&app.app.db)
            .await
            .unwrap();
    assert_eq!(
        cohort.as_deref(),
        Some("spring"),
        "from the group cohort-spring"
    );
    let (issuer, subject): (String, String) = sqlx::query_as(
        "SELECT i.issuer, i.subject FROM account_identities i JOIN accounts a ON a.learner_id = i.learner_id WHERE a.username = 'ada'",
    )
    .fetch_one(&app.app.db)
    .await
    .unwrap();
    assert!(issuer.starts_with("http://127.0.0.1:") && subject == "ada");
    Ok(())
}
