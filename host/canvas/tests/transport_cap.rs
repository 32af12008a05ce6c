//! The real transport stops reading a body past its cap: a hostile or
//! broken upstream cannot make the host hold an unbounded answer.

#![allow(clippy::unwrap_used)] // test code

use bytes::Bytes;
use easel_canvas::{MAX_RESPONSE_BYTES, ReqwestTransport, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that answers every request with `len` bytes of body.
async fn serve(len: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 1 << 20];
                let mut left = len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if sock.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    format!("http://{addr}/api/v1/x")
}

fn get(url: &str) -> http::Request<Bytes> {
    let mut req = http::Request::new(Bytes::new());
    *req.uri_mut() = url.parse().unwrap();
    req
}

#[tokio::test]
async fn a_body_over_the_cap_is_not_read_and_one_under_it_is() {
    let t = ReqwestTransport::new(std::time::Duration::from_secs(30)).unwrap();
    let under = serve(1 << 20).await;
    let resp = t.send(get(&under)).await.unwrap();
    assert_eq!(resp.body().len(), 1 << 20);
    let over = serve(MAX_RESPONSE_BYTES + (1 << 20)).await;
    let err = t.send(get(&over)).await.unwrap_err();
    assert!(err.to_string().contains("over"), "{err}");
}
