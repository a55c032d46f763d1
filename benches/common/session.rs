//! Signing in to a portal-mode server from a benchmark, as a browser does.

/// A GET with the session cookie.
pub(crate) async fn get(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    path: &str,
) -> reqwest::Response {
    client
        .get(format!("{base}{path}"))
        .header("cookie", format!("lectern_session={session}"))
        .send()
        .await
        .unwrap()
}

/// Signs `username` in through the sign-in form; returns the session token and its CSRF token.
/// `client` must not follow redirects: the session cookie comes with the sign-in's 303.
pub(crate) async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> (String, String) {
    let form = client.get(format!("{base}/sign-in")).send().await.unwrap();
    let cookie = form
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lectern_sign_in="))
        .unwrap()
        .to_owned();
    let csrf = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("lectern_sign_in=")
        .to_owned();
    let response = client
        .post(format!("{base}/sign-in"))
        .header("cookie", format!("lectern_sign_in={csrf}"))
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .unwrap();
    let token = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("lectern_session="))
        .expect("signed in")
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("lectern_session=")
        .to_owned();
    let home = get(client, base, &token, "/").await.text().await.unwrap();
    let session_csrf = home
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    (token, session_csrf)
}
