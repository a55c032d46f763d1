//! A browser-like client for portal-mode tests: it keeps the session cookie, signs in through the
//! real form, sends the CSRF token as pages do, and never follows redirects (tests assert them).

use super::TestApp;

/// A browser: keeps the session cookie, never follows redirects (tests assert them).
pub struct Browser<'a> {
    app: &'a TestApp,
    pub client: reqwest::Client,
    pub session: Option<String>,
}

pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            app,
            client,
            session: None,
        }
    }

    pub fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.session {
            Some(token) => request.header("cookie", format!("lectern_session={token}")),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.with_cookie(self.client.get(self.app.url(path)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.with_cookie(self.client.post(self.app.url(path)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Fills in the sign-in form as a person would; returns the response to the POST.
    pub async fn sign_in_as(&mut self, username: &str, password: &str) -> reqwest::Response {
        self.sign_in_then(username, password, "/modules/cluster-architecture")
            .await
    }

    /// Signs in from a form whose `next` (where to go afterwards) is `next`.
    pub async fn sign_in_then(
        &mut self,
        username: &str,
        password: &str,
        next: &str,
    ) -> reqwest::Response {
        let form = self.get("/sign-in").await;
        let form_cookie =
            set_cookie(&form, "lectern_sign_in").expect("sign-in form sets its cookie");
        let csrf = cookie_value(&form_cookie);
        let html = form.text().await.unwrap();
        assert!(html.contains(&format!("name=\"csrf\" value=\"{csrf}\"")));
        let mut request = self
            .client
            .post(self.app.url("/sign-in"))
            .header("cookie", format!("lectern_sign_in={csrf}"));
        if let Some(token) = &self.session {
            request = request.header(
                "cookie",
                format!("lectern_session={token}; lectern_sign_in={csrf}"),
            );
        }
        let response = request
            .form(&[
                ("username", username),
                ("password", password),
                ("csrf", &csrf),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        if let Some(cookie) = set_cookie(&response, "lectern_session") {
            self.session = Some(cookie_value(&cookie));
        }
        response
    }

    /// The session's CSRF token, as pages give it to their scripts and forms.
    pub async fn csrf(&self) -> String {
        let html = self.get("/").await.text().await.unwrap();
        html.split("data-csrf=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("signed-in page carries the CSRF token")
            .to_owned()
    }

    /// A JSON POST as the page's scripts send it: session cookie and CSRF header.
    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.with_cookie(self.client.post(self.app.url(path)))
            .header("x-csrf-token", self.csrf().await)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }
}

/// A browser signed in as `name` (with [`super::PASSWORD`]).
pub async fn signed_in<'a>(app: &'a TestApp, name: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    browser.sign_in_as(name, super::PASSWORD).await;
    browser
}

/// The page at `path`, as `browser` sees it.
pub async fn html(browser: &Browser<'_>, path: &str) -> String {
    browser.get(path).await.text().await.unwrap()
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    html.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("no hidden input {name}"))
        .to_owned()
}
