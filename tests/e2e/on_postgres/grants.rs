//! tests/e2e/grants.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../grants.rs"]
mod grants;
