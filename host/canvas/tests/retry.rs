//! Retries: throttled answers for any method, 5xx and dropped connections
//! only for idempotent ones, never a POST that may have been applied.
#![allow(clippy::unwrap_used)] // test code fails loudly

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use easel_canvas::{
    BoxFuture, CallTag, CanvasClient, OutboundRequest, RetryReason, Token, Transport,
    TransportError,
};
use secrecy::SecretString;

/// Answers from a script, then 200s; counts what was sent.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<(u16, &'static str), ()>>>,
    sent: Mutex<Vec<String>>,
}

impl Transport for Scripted {
    fn send(
        &self,
        req: OutboundRequest,
    ) -> BoxFuture<'_, Result<http::Response<Bytes>, TransportError>> {
        self.sent.lock().unwrap().push(req.method().to_string());
        let next = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok((200, "{}")));
        Box::pin(async move {
            let (status, body) = next.map_err(|_| TransportError("connection reset".into()))?;
            let mut r = http::Response::new(Bytes::from_static(body.as_bytes()));
            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok(r)
        })
    }
}

fn client(script: Vec<Result<(u16, &'static str), ()>>) -> (CanvasClient, Arc<Scripted>) {
    let t = Arc::new(Scripted {
        answers: Mutex::new(script.into()),
        ..Scripted::default()
    });
    let c = CanvasClient::with_token(
        "https://canvas.example.edu",
        Token::new(SecretString::from("7~x")),
        t.clone(),
    )
    .unwrap();
    (c, t)
}

async fn call(c: &CanvasClient, method: http::Method) -> easel_canvas::Response {
    c.send(
        &CallTag::admin("test"),
        method,
        "/api/v1/courses/1",
        &[],
        None,
    )
    .await
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_throttled_request_is_retried_until_it_succeeds() {
    let (c, t) = client(vec![
        Ok((429, "")),
        Ok((403, "403 Forbidden (Rate Limit Exceeded)\n")),
        Ok((200, "{}")),
    ]);
    let r = call(&c, http::Method::POST).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.retries,
        vec![RetryReason::Throttled, RetryReason::Throttled]
    );
    assert_eq!(
        t.sent.lock().unwrap().len(),
        3,
        "a throttled POST was not run, so it is retried"
    );
    let stats = c.governor().stats();
    assert_eq!(
        stats.answers.into_iter().collect::<Vec<_>>(),
        vec![(200, 1), (403, 1), (429, 1)],
        "every answer is counted by status, throttles included"
    );
    assert_eq!((stats.throttled, stats.retries.throttled), (2, 2));
}

#[tokio::test(start_paused = true)]
async fn a_post_that_gets_a_500_is_not_retried() {
    let (c, t) = client(vec![Ok((
        500,
        r#"{"errors":[{"message":"An error occurred."}]}"#,
    ))]);
    let r = call(&c, http::Method::POST).await;
    assert_eq!(r.status, 500);
    assert!(r.retries.is_empty());
    assert_eq!(t.sent.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn idempotent_requests_are_retried_after_a_500_or_a_drop() {
    let (c, t) = client(vec![Ok((502, "")), Err(()), Ok((200, "{}"))]);
    let r = call(&c, http::Method::PUT).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.retries,
        vec![RetryReason::ServerError(502), RetryReason::Connection]
    );
    assert_eq!(t.sent.lock().unwrap().len(), 3);
    let stats = c.governor().stats();
    assert_eq!(
        stats.answers.into_iter().collect::<Vec<_>>(),
        vec![(200, 1), (502, 1)]
    );
    assert_eq!(
        stats.lost, 1,
        "the dropped connection is counted unanswered"
    );
    assert_eq!(
        stats.retries,
        easel_canvas::Retries {
            throttled: 0,
            server_error: 1,
            connection: 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_permission_403_is_not_retried_and_retries_are_bounded() {
    let (c, t) = client(vec![Ok((403, r#"{"status":"unauthorized"}"#))]);
    assert_eq!(call(&c, http::Method::GET).await.status, 403);
    assert_eq!(t.sent.lock().unwrap().len(), 1);
    let (c, t) = client(vec![Ok((502, "")); 20]);
    assert_eq!(call(&c, http::Method::GET).await.status, 502);
    assert_eq!(t.sent.lock().unwrap().len(), 6, "six attempts at most");
    // A throttle means Canvas did not run the request: a run waits its
    // turn longer (another client may hold the token near its limit for
    // a while), but for four minutes of tries and waits between them at
    // most. The governor also holds the request back after each throttle;
    // that time does not count, and the run's limit (10 minutes by
    // default) bounds it.
    let (c, t) = client(vec![Ok((429, "")); 100]);
    let started = tokio::time::Instant::now();
    let r = call(&c, http::Method::GET).await;
    assert_eq!(r.status, 429);
    let sent = t.sent.lock().unwrap().len();
    assert!(
        sent > 6,
        "throttles retried like other failures: {sent} sent"
    );
    assert!(
        r.upstream >= Duration::from_secs(240) && r.upstream < Duration::from_secs(250),
        "gave up after {:?} of tries and waits between them",
        r.upstream
    );
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(600),
        "gave up after {waited:?} in all"
    );
}
