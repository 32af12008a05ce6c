//! tests/e2e/report.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../report.rs"]
mod report;
