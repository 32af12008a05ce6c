//! One module per `easel:canvas` WIT interface. Each Canvas method does the
//! same three steps: build the `Operation`, `authorize` it, send it.

pub mod context;
pub mod log;
pub mod read;
pub mod report;
pub mod types;
pub mod write;
