//! tests/e2e/many.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../many.rs"]
mod many;
