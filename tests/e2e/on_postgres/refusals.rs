//! tests/e2e/refusals.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../refusals.rs"]
mod refusals;
