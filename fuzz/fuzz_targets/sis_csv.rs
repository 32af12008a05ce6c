//! `SisCsv::parse` on arbitrary UTF-8: never panics; an accepted file's
//! text, written again, parses to the same rows and the same text; every
//! value it will place is an exact SIS id (nothing Canvas would strip).
#![no_main]

use easel_policy::{Column, SisCsv, sis_value_is_exact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(csv) = SisCsv::parse(text) else {
        return;
    };
    let written = csv.to_text();
    let again = SisCsv::parse(&written).expect("the written file re-parses");
    assert_eq!(again, csv, "re-parse changed the rows");
    assert_eq!(again.to_text(), written, "writing is not idempotent");
    for (line, column, value) in csv.cells() {
        assert_eq!(value.trim(), value, "line {line}: a value Canvas would strip");
        if matches!(
            column,
            Column::Creates(_) | Column::Login | Column::Ref(_) | Column::Enrollee
        ) {
            assert!(sis_value_is_exact(value), "line {line}: {value:?} is not exact");
        }
    }
});
