//! `Manifest::parse` on arbitrary UTF-8: never panics, and an accepted
//! manifest is consistent (valid id, write scopes only with write).
#![no_main]

use easel_policy::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(m) = Manifest::parse(text) else {
        return;
    };
    assert!(!m.id.is_empty() && m.id.len() <= 64);
    assert!(
        m.id.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    );
    for s in &m.scopes {
        assert!(s.verb() == "GET" || m.requests_write(), "{s} without write");
    }
    for r in &m.reports {
        assert!(!r.is_empty() && !r.contains(['/', '\\']) && !r.starts_with('.'));
    }
    let _ = m.resolve_params(&[]);
});
