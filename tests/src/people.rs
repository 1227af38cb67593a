//! People for the tests: one added with the shared token, signed in from the
//! appliance's own origin, and given an API token from that session.

use std::future::Future;

use http::Request;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client;

/// The password every test person has.
pub const PASSWORD: &str = "correct horse battery";

/// Adds `email` with `role` (using the shared `env_token`), signs them in, and creates
/// a token named `token_name` from their session: its secret. `connect` opens a fresh
/// connection to the appliance (TCP or a Unix socket).
pub async fn person_token<S, F, Fut>(
    connect: F,
    env_token: &str,
    email: &str,
    role: &str,
    token_name: &str,
) -> String
where
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let post = |path: &str, body: serde_json::Value| {
        Request::post(path)
            .header("host", "agent5.test")
            .header("origin", "http://agent5.test")
            .header("content-type", "application/json")
            .body(client::body(body.to_string()))
            .expect("req")
    };
    let mut add = post(
        "/api/users",
        json!({"email": email, "role": role, "password": PASSWORD}),
    );
    add.headers_mut().insert(
        "authorization",
        format!("Bearer {env_token}").parse().expect("header"),
    );
    let added = client::send(connect().await, add).await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    let login = client::send(
        connect().await,
        post(
            "/api/auth/login",
            json!({"email": email, "password": PASSWORD}),
        ),
    )
    .await;
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let mut create = post("/api/tokens", json!({ "name": token_name }));
    create
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie header"));
    let created = client::send(connect().await, create).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.json()["token"].as_str().expect("token").to_owned()
}
