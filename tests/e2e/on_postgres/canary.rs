//! tests/e2e/canary.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../canary.rs"]
mod canary;
