//! `easel_canvas::next_link` on arbitrary UTF-8: never panics, and any
//! result is a slice of the header that was written between `<` and `>`.
//!
//! The module is compiled from easel-canvas's own source file rather than
//! by depending on easel-canvas, which would build reqwest, rustls and
//! tokio with fuzzing instrumentation. `next_link` uses nothing else.
#![no_main]

#[path = "../../host/canvas/src/link.rs"]
mod link;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let Some(url) = link::next_link(header) else {
        return;
    };
    let start = url.as_ptr() as usize;
    let base = header.as_ptr() as usize;
    assert!(
        start >= base && start + url.len() <= base + header.len(),
        "the link is not a slice of the header"
    );
    assert!(header.contains(url));
    assert!(!url.contains('>'), "the link runs past its closing bracket: {url:?}");
    assert_eq!(
        header.as_bytes().get(start - base - 1),
        Some(&b'<'),
        "the link does not start after a <"
    );
});
