//! Property tests of the parsers a hostile plugin feeds: what is decided is
//! what is sent, bodies re-serialise to exactly their parsed keys, scopes
//! and manifests parse without panicking, and a call naming an object
//! outside the school is never allowed.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code

use easel_policy::{
    ApiPath, Body, Decision, Grant, Manifest, Method, Operation, Scope, SisCsv, decide,
};
use proptest::prelude::*;

/// Path-ish text: mostly the characters paths are made of, some not.
fn pathish() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        Just("api".to_owned()),
        Just("v1".to_owned()),
        Just("courses".to_owned()),
        Just("accounts".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("%2e".to_owned()),
        Just("%2F".to_owned()),
        Just("sis_course_id:A%20B".to_owned()),
        "[0-9]{1,5}",
        "[a-z_]{1,8}",
        "[ -~]{0,6}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(seg, 0..7).prop_map(|segs| {
        let mut p = String::from("/api/v1");
        for s in segs {
            p.push('/');
            p.push_str(&s);
        }
        p
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn an_accepted_path_is_sent_exactly_as_checked(raw in prop_oneof![pathish(), "\\PC{0,40}"]) {
        if let Ok(path) = ApiPath::parse(&raw) {
            prop_assert_eq!(path.as_string(), raw.clone());
            prop_assert!(!raw.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()));
            let base = url::Url::parse("https://canvas.example").unwrap();
            let joined = base.join(&raw).unwrap();
            prop_assert_eq!(joined.path(), raw.as_str());
            for seg in raw.split('/') {
                prop_assert!(seg != ".." && seg != ".");
            }
        }
    }

    #[test]
    fn a_body_re_serialises_to_exactly_its_parsed_keys(
        keys in prop::collection::vec("[a-z_\\[\\]]{1,12}", 0..6),
        values in prop::collection::vec(prop_oneof![
            Just("1".to_owned()), Just("\"x\"".to_owned()), Just("[1,2]".to_owned()),
            Just("{\"course_id\":3}".to_owned()), Just("null".to_owned()), Just("true".to_owned()),
        ], 6),
    ) {
        let fields: Vec<String> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
            .collect();
        let text = format!("{{{}}}", fields.join(","));
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        match Body::parse(&text) {
            Ok(body) => {
                prop_assert_eq!(unique.len(), keys.len(), "duplicate keys were accepted");
                let again = Body::parse(body.as_str()).expect("canonical form parses");
                prop_assert_eq!(again.as_str(), body.as_str());
                let got: Vec<&String> = body.value().expect("a JSON body").keys().collect();
                prop_assert_eq!(got, unique.iter().collect::<Vec<_>>());
            }
            Err(_) => prop_assert!(unique.len() < keys.len(), "a valid object was refused: {}", text),
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_parsers(text in "\\PC{0,200}") {
        let _ = Body::parse(&text);
        let _ = SisCsv::parse(&text);
        let _ = Scope::parse(&text);
        let _ = Manifest::parse(&text);
        let _ = ApiPath::parse(&text);
    }

    #[test]
    fn a_parsed_scope_round_trips(path in pathish(), verb in prop_oneof![Just("GET"), Just("PUT"), Just("POST"), Just("DELETE")]) {
        let text = format!("url:{verb}|{path}");
        if let Ok(scope) = Scope::parse(&text) {
            let again = Scope::parse(&scope.to_string()).expect("its own text parses");
            prop_assert_eq!(again.to_string(), scope.to_string());
        }
    }

    #[test]
    fn a_call_naming_anything_outside_the_school_is_never_allowed(
        path in pathish(),
        method in prop_oneof![Just(Method::Get), Just(Method::Put), Just(Method::Post), Just(Method::Delete)],
        query in prop::collection::vec(("[a-z_\\[\\]]{1,16}", "[0-9a-z_:]{0,8}"), 0..4),
        body in prop::option::of("\\{\"[a-z_]{1,12}\":(1|\"2\"|\\[3\\]|\\{\"[a-z_]{1,10}\":4\\})\\}"),
    ) {
        let grant = Grant::new(vec![10], true, 100);
        let body = body.and_then(|b| Body::parse(&b).ok());
        if let Ok(mut op) = Operation::new(method, &path, query, body, 1) {
            prop_assert!(!op.targets.is_empty(), "a modelled call places something");
            // Any one object outside the school makes the call a denial.
            for t in &mut op.targets {
                t.chain = Some(vec![10]);
            }
            if let Some(last) = op.targets.last_mut() {
                last.chain = Some(vec![20]);
            }
            prop_assert!(matches!(decide(&grant, &op), Decision::Deny(_)));
            for t in &mut op.targets {
                t.chain = None;
            }
            prop_assert!(matches!(decide(&grant, &op), Decision::Deny(_)));
        }
    }
}

proptest! {
    /// A SIS import file is sent as written again from its parse, and that
    /// text parses to the same rows: what easel checked is what Canvas
    /// reads.
    #[test]
    fn a_sis_csv_written_again_parses_to_the_same_rows(
        names in proptest::collection::vec("[a-z ,\"\n\t]{0,12}", 1..6),
    ) {
        let mut text = String::from("course_id,short_name,long_name,account_id,status\n");
        for (i, n) in names.iter().enumerate() {
            let quoted = format!("\"n{}\"", n.replace('"', "\"\""));
            text.push_str(&format!("C{i},{quoted},{quoted},SCH001,active\r\n"));
        }
        let csv = SisCsv::parse(&text).expect("a well-formed file parses");
        let again = SisCsv::parse(&csv.to_text()).expect("its canonical form parses");
        prop_assert_eq!(&again, &csv);
        prop_assert_eq!(again.to_text(), csv.to_text());
        let shown: Vec<&str> = csv.cells().filter(|(_, _, v)| v.starts_with('C')).map(|(_, _, v)| v).collect();
        prop_assert_eq!(shown.len(), names.len());
    }
}
