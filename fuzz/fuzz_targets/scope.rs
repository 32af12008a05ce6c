//! `Scope::parse` on arbitrary UTF-8: never panics; a parsed scope prints
//! to text that re-parses to an equal scope, and a template with no
//! parameters, globs or optional parts matches itself.
#![no_main]

use easel_policy::Scope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scope) = Scope::parse(text) else {
        return;
    };
    let printed = scope.to_string();
    let again = Scope::parse(&printed).expect("a printed scope re-parses");
    assert_eq!(again, scope);
    assert_eq!(again.to_string(), printed);

    let template = scope.template();
    if !template.contains([':', '*', '(', ')', '?']) {
        assert!(
            scope.matches(scope.verb(), template),
            "{printed} does not match its own literal template"
        );
    }
    // Matching arbitrary text against it never panics.
    let _ = scope.matches("HEAD", text);
});
