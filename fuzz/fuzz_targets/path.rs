//! `ApiPath::parse` on arbitrary UTF-8: never panics, and an accepted path
//! is sent byte for byte as checked (no whitespace, control or non-ASCII
//! characters, no dot segments, unchanged by the URL parser).
#![no_main]

use easel_policy::ApiPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = ApiPath::parse(raw) else {
        return;
    };
    let sent = path.as_string();
    assert_eq!(sent, raw, "what is decided differs from what is sent");
    assert_eq!(path.to_string(), sent);
    assert!(
        sent.bytes().all(|b| b.is_ascii_graphic()),
        "whitespace, control or non-ASCII in {sent:?}"
    );
    for seg in sent.split('/').skip(1) {
        assert!(!seg.is_empty(), "empty segment in {sent:?}");
        assert!(seg != "." && seg != "..", "dot segment in {sent:?}");
    }
    assert_eq!(ApiPath::parse(&sent).as_ref(), Ok(&path), "re-parse differs");

    let base = url::Url::parse("https://c.example").expect("base URL");
    let joined = base.join(&sent).expect("an accepted path joins");
    assert_eq!(joined.path(), sent, "the URL parser altered the path");
    assert_eq!(joined.origin(), base.origin(), "the path changed the origin");
    assert_eq!(joined.query(), None);
    assert_eq!(joined.fragment(), None);
});
