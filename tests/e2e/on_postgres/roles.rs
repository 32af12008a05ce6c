//! tests/e2e/roles.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../roles.rs"]
mod roles;
