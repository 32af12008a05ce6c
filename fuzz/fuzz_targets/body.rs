//! `Body::parse` on arbitrary UTF-8: never panics; an accepted body's
//! canonical bytes re-parse to the same value and the same bytes, and its
//! top-level keys are exactly the input's.
#![no_main]

use std::fmt;

use easel_policy::Body;
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(body) = Body::parse(text) else {
        return;
    };
    let again = Body::parse(body.as_str()).expect("canonical bytes re-parse");
    assert_eq!(again.value(), body.value(), "re-parse changed the value");
    assert_eq!(again.as_str(), body.as_str(), "canonical bytes not idempotent");

    // The input's top-level keys, read independently (every occurrence).
    let TopKeys(mut input_keys) =
        serde_json::from_str(text).expect("serde_json rejects an accepted body");
    input_keys.sort();
    let mut body_keys: Vec<String> = body.value().expect("a JSON body").keys().cloned().collect();
    body_keys.sort();
    assert_eq!(body_keys, input_keys, "top-level keys differ from the input");
});

/// Every top-level key of a JSON object, duplicates kept.
struct TopKeys(Vec<String>);

impl<'de> Deserialize<'de> for TopKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(TopKeys(keys))
            }
        }
        d.deserialize_map(V)
    }
}
