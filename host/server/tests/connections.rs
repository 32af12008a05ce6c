//! The server's own accept loop: a client that never finishes a request's
//! head, or idles, is cut off; one address cannot hold every connection;
//! and after such clients are gone the server answers as before.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use easel_server::{ConnectionLimits, Server, serve_limited};

/// Read until the server closes the connection (or `within` passes);
/// whether it closed, and what it sent.
fn closed_within(s: &mut TcpStream, within: Duration) -> (bool, String) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let start = Instant::now();
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (true, String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => return (false, String::from_utf8_lossy(&got).into_owned()),
        }
        if start.elapsed() > within {
            return (false, String::from_utf8_lossy(&got).into_owned());
        }
    }
}

#[test]
fn slow_and_idle_clients_are_cut_off_and_one_address_cannot_take_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Server::new(dir.path().join("home"), None).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        max: 16,
        per_address: 2,
        header_timeout: Duration::from_secs(1),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = rt.spawn(serve_limited(listener, server, limits, async move {
        let _ = stopped.await;
    }));

    // Two connections: one sends half a request head, one nothing.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // A third from the same address is closed at once, unanswered.
    let mut third = TcpStream::connect(addr).unwrap();
    let (closed, sent) = closed_within(&mut third, Duration::from_millis(900));
    assert!(closed && sent.is_empty(), "the third connection: {sent:?}");
    // The slow and the idle ones are cut off after the head timeout.
    for s in [&mut slow, &mut idle] {
        let (closed, sent) = closed_within(s, Duration::from_secs(10));
        assert!(closed, "still open; sent {sent:?}");
        assert!(!sent.contains("200 OK"), "{sent}");
    }
    // Then a whole request is answered as ever.
    let mut ok = TcpStream::connect(addr).unwrap();
    ok.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (closed, sent) = closed_within(&mut ok, Duration::from_secs(10));
    assert!(closed, "{sent}");
    assert!(sent.starts_with("HTTP/1.1 403"), "{sent}");
    assert!(sent.contains("sign in first"), "{sent}");

    let _ = stop.send(());
    rt.block_on(serving).unwrap().unwrap();
}
