//! The client with a fake transport: what it sends, and what it refuses to
//! send.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use easel_canvas::{
    BoxFuture, CallTag, CanvasClient, ClientError, OutboundRequest, Token, Transport,
    TransportError,
};
use secrecy::SecretString;

#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<OutboundRequest>>,
    link: Option<String>,
}

impl Transport for Fake {
    fn send(
        &self,
        req: OutboundRequest,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        self.seen.lock().unwrap().push(req);
        let mut resp = http::Response::new(Bytes::from_static(b"[]"));
        if let Some(l) = &self.link {
            resp.headers_mut().insert("link", l.parse().unwrap());
        }
        resp.headers_mut()
            .insert("x-request-cost", "0.25".parse().unwrap());
        Box::pin(async move { Ok(resp) })
    }
}

const SECRET: &str = "7~fake-secret-token";

fn client(fake: Arc<Fake>) -> CanvasClient {
    CanvasClient::with_token(
        "https://canvas.example.edu/ignored/path",
        Token::new(SecretString::from(SECRET)),
        fake,
    )
    .unwrap()
}

fn tag() -> CallTag {
    CallTag {
        plugin: "course-report".into(),
        digest: "0123456789abcdef0123".into(),
        run: "r1".into(),
        school: 42,
        lookup: false,
    }
}

#[tokio::test]
async fn a_request_carries_bearer_user_agent_and_per_page() {
    let fake = Arc::new(Fake::default());
    let c = client(fake.clone());
    let resp = c
        .list_first(
            &tag(),
            "/api/v1/accounts/42/courses",
            &[("include[]".into(), "term".into())],
        )
        .await
        .unwrap();
    assert_eq!(resp.request_cost, Some(0.25));
    let seen = fake.seen.lock().unwrap();
    let req = &seen[0];
    assert_eq!(
        req.uri().to_string(),
        "https://canvas.example.edu/api/v1/accounts/42/courses?include%5B%5D=term&per_page=100"
    );
    assert_eq!(
        req.headers()["authorization"],
        format!("Bearer {SECRET}").as_str()
    );
    assert!(req.headers()["authorization"].is_sensitive());
    assert_eq!(
        req.headers()["user-agent"],
        format!(
            "easel/{} (plugin=course-report@0123456789ab; run=r1; school=42)",
            env!("CARGO_PKG_VERSION")
        )
        .as_str()
    );
}

#[tokio::test]
async fn a_next_link_to_another_origin_is_refused_before_anything_is_sent() {
    for evil in [
        "https://evil.example/api/v1/accounts/42/courses?page=2",
        "http://canvas.example.edu/api/v1/accounts/42/courses?page=2",
        "https://canvas.example.edu:8443/api/v1/accounts/42/courses?page=2",
        "https://user@canvas.example.edu/api/v1/accounts/42/courses?page=2",
    ] {
        let fake = Arc::new(Fake::default());
        let c = client(fake.clone());
        let err = c.follow(&tag(), evil).await.unwrap_err();
        assert!(
            matches!(err, ClientError::OffOrigin { .. }),
            "{evil}: {err}"
        );
        assert!(fake.seen.lock().unwrap().is_empty(), "{evil} was sent");
    }
}

#[tokio::test]
async fn the_next_link_is_parsed_and_followed_on_the_same_origin() {
    let fake = Arc::new(Fake {
        link: Some(
            "<https://canvas.example.edu/api/v1/x?page=2&per_page=100>; rel=\"next\"".into(),
        ),
        ..Fake::default()
    });
    let c = client(fake.clone());
    let resp = c.list_first(&tag(), "/api/v1/x", &[]).await.unwrap();
    let next = resp.next.unwrap();
    c.follow(&tag(), &next).await.unwrap();
    assert_eq!(fake.seen.lock().unwrap().len(), 2);
}

#[test]
fn debug_output_never_shows_the_token() {
    let c = client(Arc::new(Fake::default()));
    let text = format!(
        "{c:?} {:?} {}",
        Token::new(SecretString::from(SECRET)),
        Token::new(SecretString::from(SECRET))
    );
    assert!(!text.contains("fake-secret"), "{text}");
}

#[tokio::test]
async fn a_token_echoed_in_a_link_or_location_header_is_redacted() {
    let fake = Arc::new(Fake {
        link: Some(format!(
            "<https://canvas.example.edu/api/v1/x?page=2&access_token={SECRET}>; rel=\"next\""
        )),
        ..Fake::default()
    });
    let c = client(fake);
    let resp = c.list_first(&tag(), "/api/v1/x", &[]).await.unwrap();
    let next = resp.next.unwrap();
    assert!(!next.contains(SECRET), "{next}");
    assert!(next.contains("redacted"), "{next}");
}

#[tokio::test]
async fn a_path_the_url_parser_would_alter_is_refused_unsent() {
    let fake = Arc::new(Fake::default());
    let c = client(fake.clone());
    for path in [
        "/api/v1/courses/1/../2",
        "/api/v1/courses/1 ",
        "/api/v1/courses/%2e%2e",
    ] {
        let err = c
            .send(&tag(), http::Method::GET, path, &[], None)
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::BadUrl(_)), "{path}: {err}");
    }
    assert!(fake.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn relative_next_links_are_resolved_against_the_request_and_then_pinned() {
    for (link, want) in [
        // Absolute, relative to the root, relative to the request's path.
        (
            "<https://canvas.example.edu/api/v1/accounts/42/courses?page=2&per_page=100>; rel=\"next\"",
            Some("https://canvas.example.edu/api/v1/accounts/42/courses?page=2&per_page=100"),
        ),
        (
            "</api/v1/accounts/42/courses?page=2&per_page=100>; rel=\"next\"",
            Some("https://canvas.example.edu/api/v1/accounts/42/courses?page=2&per_page=100"),
        ),
        (
            "<courses?page=2>; rel=\"next\"",
            Some("https://canvas.example.edu/api/v1/accounts/42/courses?page=2"),
        ),
        // A network-path reference leaves the origin: resolved, then refused.
        (
            "<//evil.example/api/v1/accounts/42/courses?page=2>; rel=\"next\"",
            Some("https://evil.example/api/v1/accounts/42/courses?page=2"),
        ),
        // Malformed: no next.
        ("</api/v1/accounts/42/courses?page=2; rel=\"next\"", None),
    ] {
        let fake = Arc::new(Fake {
            link: Some(link.into()),
            ..Fake::default()
        });
        let c = client(fake.clone());
        let resp = c
            .list_first(&tag(), "/api/v1/accounts/42/courses", &[])
            .await
            .unwrap();
        assert_eq!(resp.next.as_deref(), want, "{link}");
        if let Some(next) = resp.next {
            let followed = c.follow(&tag(), &next).await;
            if next.starts_with("https://evil.example") {
                assert!(matches!(followed, Err(ClientError::OffOrigin { .. })));
                assert_eq!(fake.seen.lock().unwrap().len(), 1, "nothing sent to it");
            } else {
                assert!(followed.is_ok());
                assert_eq!(fake.seen.lock().unwrap()[1].uri().to_string(), next);
            }
        }
    }
}

#[tokio::test]
async fn a_lookup_says_so_in_its_user_agent() {
    let fake = Arc::new(Fake::default());
    let c = client(fake.clone());
    c.list_first(&tag().for_lookups(), "/api/v1/accounts/42/courses", &[])
        .await
        .unwrap();
    assert_eq!(
        fake.seen.lock().unwrap()[0].headers()["user-agent"],
        format!(
            "easel/{} (lookup; plugin=course-report@0123456789ab; run=r1; school=42)",
            env!("CARGO_PKG_VERSION")
        )
        .as_str()
    );
}
