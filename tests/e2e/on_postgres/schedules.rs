//! tests/e2e/schedules.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../schedules.rs"]
mod schedules;
