//! A browser as the dashboard sees it: a cookie jar of one session cookie, server functions
//! called as `ActionForm` calls them, no automatic redirects.

use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::Value;

use super::{Reply, TestServer, send};

/// One browser: its session cookie, no automatic redirects.
pub struct Browser<'a> {
    pub server: &'a TestServer,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Reply {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let reply = send(request).await;
        if let Some(set) = reply.headers.get(SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
            self.cookie = pair
                .strip_prefix("baton_session=")
                .filter(|value| !value.is_empty())
                .map(|_| pair.clone());
        }
        reply
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self.client.get(self.server.url(path));
        self.send(request).await
    }

    /// Calls a server function with form fields, as `ActionForm` does.
    pub async fn call(&mut self, endpoint: &str, form: &[(&str, &str)]) -> Reply {
        let request = self
            .client
            .post(self.server.url(&format!("/api/{endpoint}")))
            .form(form);
        self.send(request).await
    }

    /// Calls a server function that takes JSON.
    pub async fn call_json(&mut self, endpoint: &str, body: &Value) -> Reply {
        let request = self
            .client
            .post(self.server.url(&format!("/api/{endpoint}")))
            .json(body);
        self.send(request).await
    }

    pub async fn sign_in(&mut self, username: &str, password: &str) -> Reply {
        self.call(
            "sign_in",
            &[("username", username), ("password", password), ("next", "")],
        )
        .await
    }

    /// Signs in and expects it to work.
    pub async fn signed_in(server: &'a TestServer, username: &str, password: &str) -> Self {
        let mut browser = Self::new(server);
        browser.sign_in(username, password).await.ok();
        assert!(
            browser.cookie.is_some(),
            "signing in sets the session cookie"
        );
        browser
    }

    pub async fn current_user(&mut self) -> Value {
        self.call("current_user", &[]).await.ok().clone()
    }
}
