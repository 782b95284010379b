//! The access token: `GET /api/auth/verify`, a bearer header wherever the cookie works, and the
//! attacks on the JWT — each forged token changes one thing in a valid one and is refused,
//! against a control signed the same way that is accepted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use server::service::auth::tokens::{AUDIENCE, ISSUER};

/// The JWT key the attack tests configure, so they can sign tokens the server would accept
/// and change one thing at a time.
const KEY: &[u8] = b"an-hs256-test-key-of-at-least-32-bytes!!";

async fn app_with_known_key() -> TestApp {
    spawn_app_with(|c| c.jwt_secret = Some(String::from_utf8_lossy(KEY).into_owned().into())).await
}

fn sign(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).expect("sign")
}

#[tokio::test]
async fn verify_returns_the_user_and_the_access_expiry() {
    let app = spawn_app().await;
    let (c, user) = app.user().await;
    let before = Utc::now();
    let r = c.get("/api/auth/verify").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"], serde_json::to_value(&user).unwrap());
    let exp: DateTime<Utc> = r.body["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("RFC 3339");
    let left = (exp - before).num_seconds();
    assert!(
        (880..=901).contains(&left),
        "about the 900 s access ttl: {left}"
    );

    for (label, r) in [
        ("no token", app.client().get("/api/auth/verify").await),
        (
            "garbage bearer",
            Bearer::new(&app, "garbage").get("/api/auth/verify").await,
        ),
        (
            "empty bearer",
            Bearer::new(&app, "").get("/api/auth/verify").await,
        ),
        (
            "three dots",
            Bearer::new(&app, "a.b.c").get("/api/auth/verify").await,
        ),
    ] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}: {:?}", r.body);
        assert_eq!(r.code(), "unauthenticated", "{label}");
    }
    // Other schemes are not bearer tokens.
    let anon = app.client();
    let r = anon
        .send(
            anon.http
                .get(format!("{}/api/auth/verify", app.url))
                .basic_auth("u", Some("p")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bearer_works_wherever_the_cookie_does() {
    let app = spawn_app().await;
    let (_, user, token) = user_with_token(&app).await;
    let b = Bearer::new(&app, &token);
    let r = b.get("/api/auth/verify").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["user"]["id"], user.id);
    let r = b.post("/api/todos", json!({"title": "via bearer"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.todo().id;
    assert_eq!(b.get("/api/todos").await.todos().len(), 1);
    assert_eq!(
        b.get(&format!("/api/todos/{id}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        b.patch(&format!("/api/todos/{id}"), json!({"completed": true}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        b.delete(&format!("/api/todos/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(b.get("/api/conversations").await.status, StatusCode::OK);
    // The scheme is case-insensitive.
    let c = app.client();
    let r = c
        .send(
            c.http
                .get(format!("{}/api/auth/verify", app.url))
                .header("authorization", format!("bearer {token}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    // And logout by bearer ends the session for every form of the token.
    assert_eq!(
        b.post_empty("/api/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        b.get("/api/auth/verify").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .send(
            c.http
                .get(format!("{}/api/auth/verify", app.url))
                .header("cookie", format!("access_token={token}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// Each forged token changes one thing in an otherwise valid token signed with the server's
/// own key; the control (nothing changed) is accepted, so every refusal is for that one change.
#[tokio::test]
async fn forged_access_tokens_are_refused_with_401() {
    let app = app_with_known_key().await;
    let (_, _, token) = user_with_token(&app).await;
    let (_, victim, victim_token) = user_with_token(&app).await;
    let real = claims(&token);
    let now = Utc::now().timestamp();
    let valid = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut c = real.as_object().unwrap().clone();
        c.insert("iat".into(), json!(now));
        c.insert("exp".into(), json!(now + 600));
        edit(&mut c);
        Value::Object(c)
    };

    // The control: a token we sign ourselves with the right key and claims is accepted.
    let control = sign(Algorithm::HS256, KEY, &valid(&|_| {}));
    assert_eq!(
        Bearer::new(&app, &control)
            .get("/api/auth/verify")
            .await
            .status,
        StatusCode::OK
    );

    let (h, p, s) = {
        let mut parts = token.split('.');
        (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap().to_owned(),
        )
    };
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let victim_claims = valid(&|c| {
        c.insert("sub".into(), json!(victim.id.to_string()));
    });
    let mut flipped_sig = s.clone().into_bytes();
    flipped_sig[5] = if flipped_sig[5] == b'A' { b'B' } else { b'A' };
    let forged: Vec<(&str, String)> = vec![
        (
            "alg none, no signature",
            format!("{}.{}.", enc(&json!({"alg": "none", "typ": "JWT"})), p),
        ),
        (
            "alg none, original signature",
            format!("{}.{}.{s}", enc(&json!({"alg": "none", "typ": "JWT"})), p),
        ),
        (
            "alg None",
            format!("{}.{}.", enc(&json!({"alg": "None", "typ": "JWT"})), p),
        ),
        (
            "alg HS512 with the right key",
            sign(Algorithm::HS512, KEY, &valid(&|_| {})),
        ),
        (
            "alg HS384 with the right key",
            sign(Algorithm::HS384, KEY, &valid(&|_| {})),
        ),
        (
            "tampered payload (another user)",
            format!("{h}.{}.{s}", enc(&victim_claims)),
        ),
        (
            "tampered payload (longer expiry)",
            format!(
                "{h}.{}.{s}",
                enc(&valid(&|c| {
                    c.insert("exp".into(), json!(now + 999_999));
                }))
            ),
        ),
        (
            "tampered signature",
            format!("{h}.{p}.{}", String::from_utf8(flipped_sig).unwrap()),
        ),
        ("no signature", format!("{h}.{p}.")),
        (
            "another key",
            sign(
                Algorithm::HS256,
                b"another-key-of-at-least-32-bytes-long!!",
                &valid(&|_| {}),
            ),
        ),
        (
            "expired one second ago",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("exp".into(), json!(now - 1));
                }),
            ),
        ),
        (
            "expired long ago",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("exp".into(), json!(now - 86_400));
                }),
            ),
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("iss".into(), json!("someone-else"));
                }),
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("aud".into(), json!("another-api"));
                }),
            ),
        ),
        (
            "audience list without ours",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("aud".into(), json!(["x", "y"]));
                }),
            ),
        ),
        (
            "no exp",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("exp");
                }),
            ),
        ),
        (
            "no iss",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("iss");
                }),
            ),
        ),
        (
            "no aud",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("aud");
                }),
            ),
        ),
        (
            "no sid",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.remove("sid");
                }),
            ),
        ),
        (
            "sid of an unknown session",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sid".into(), json!(987_654));
                }),
            ),
        ),
        (
            "sub of another user with my session",
            sign(Algorithm::HS256, KEY, &victim_claims),
        ),
        (
            "sid of another user's session",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sid".into(), claims(&victim_token)["sid"].clone());
                }),
            ),
        ),
        (
            "sub not a number",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sub".into(), json!("admin"));
                }),
            ),
        ),
        (
            "sub as a number",
            sign(
                Algorithm::HS256,
                KEY,
                &valid(&|c| {
                    c.insert("sub".into(), json!(1));
                }),
            ),
        ),
        ("two tokens glued", format!("{token}.{token}")),
    ];
    for (label, t) in &forged {
        let b = Bearer::new(&app, t);
        for r in [
            b.get("/api/auth/verify").await,
            b.get("/api/todos").await,
            b.post("/api/todos", json!({"title": "pwned"})).await,
        ] {
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label}: {:?}", r.body);
            assert_eq!(r.code(), "unauthenticated", "{label}");
            assert_no_leak(&r);
        }
        // The same through the cookie.
        let c = app.client();
        let r = c
            .send(
                c.http
                    .get(format!("{}/api/auth/verify", app.url))
                    .header("cookie", format!("access_token={t}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{label} (cookie)");
    }
    // Nothing was created by any of them, for either user.
    for t in [&token, &victim_token] {
        assert!(
            Bearer::new(&app, t)
                .get("/api/todos")
                .await
                .todos()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_token_of_a_revoked_session_is_refused_even_when_correctly_signed() {
    let app = app_with_known_key().await;
    let (_, _, token) = user_with_token(&app).await;
    let mut c = claims(&token);
    let b = Bearer::new(&app, &token);
    assert_eq!(
        b.post_empty("/api/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    // A fresh, validly signed token for the revoked session.
    c["exp"] = json!(Utc::now().timestamp() + 600);
    let resigned = sign(Algorithm::HS256, KEY, &c);
    assert_ne!(resigned, token);
    let r = Bearer::new(&app, &resigned).get("/api/auth/verify").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["aud"], AUDIENCE);
}
