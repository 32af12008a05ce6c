//! tests/e2e/credentials.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../credentials.rs"]
mod credentials;
