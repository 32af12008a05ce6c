//! Property tests of `Link` header parsing: a hostile Canvas controls the
//! header, so parsing never panics, finds the `next` link among any others,
//! and returns only text that was in the header.

#![allow(clippy::unwrap_used, clippy::panic)] // test code

use easel_canvas::next_link;
use proptest::prelude::*;

fn url() -> impl Strategy<Value = String> {
    "https://c\\.example/api/v1/[a-z]{1,8}\\?page=[0-9a-zA-Z:_]{1,12}&per_page=[0-9]{1,3}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_next_link_is_found_among_any_others(
        next in url(),
        others in prop::collection::vec((url(), prop_oneof![Just("current"), Just("prev"), Just("first"), Just("last")]), 0..4),
        at in 0usize..5,
    ) {
        let mut parts: Vec<String> = others.iter().map(|(u, rel)| format!("<{u}>; rel=\"{rel}\"")).collect();
        let at = at.min(parts.len());
        parts.insert(at, format!("<{next}>; rel=\"next\""));
        let header = parts.join(",");
        prop_assert_eq!(next_link(&header), Some(next.as_str()));
    }

    #[test]
    fn arbitrary_headers_never_panic_and_answer_from_the_header(header in "\\PC{0,300}") {
        if let Some(found) = next_link(&header) {
            prop_assert!(header.contains(found));
        }
    }
}
