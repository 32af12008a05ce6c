//! tests/e2e/queue.rs on PostgreSQL (the store matrix: `easel_tests::matrix!`
//! reads this target's name).

#[path = "../queue.rs"]
mod queue;
