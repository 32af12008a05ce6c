//! Bodies that misbehave: a connection dropped mid-body, a body that
//! trickles.

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::response::Response;

/// Largest body the fault wrappers buffer.
const MAX: usize = 64 << 20;

/// Send the headers and half the body, then fail the stream: the client
/// sees the connection drop.
pub(crate) fn dropped(resp: Response) -> Response {
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let stream = futures::stream::iter(vec![
        Ok(Bytes::from_static(b"[{\"id\":")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated dropped connection",
        )),
    ]);
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Send the body in two halves, `gap` apart.
pub(crate) async fn slow(resp: Response, gap: Duration) -> Response {
    let (parts, body) = resp.into_parts();
    let bytes = to_bytes(body, MAX).await.unwrap_or_default();
    let mid = bytes.len() / 2;
    let (first, second) = (bytes.slice(..mid), bytes.slice(mid..));
    let stream = futures::stream::unfold(0u8, move |step| {
        let (first, second) = (first.clone(), second.clone());
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(first), 1)),
                1 => {
                    tokio::time::sleep(gap).await;
                    Some((Ok(second), 2))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A misconfigured proxy's error page: the request's headers, credential
/// included, echoed back in the body.
pub(crate) fn echo_headers(headers: &http::HeaderMap) -> Response {
    let mut text = String::from("502 Bad Gateway\nrequest headers:\n");
    for (name, value) in headers {
        text.push_str(name.as_str());
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push('\n');
    }
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = http::StatusCode::BAD_GATEWAY;
    resp
}
