//! The trivial plugin: reads its context and returns. Used by the
//! instantiate-and-run benchmark and to show the host still works after a
//! hostile plugin.
use easel_sdk::{Context, Result};

fn run(cx: &Context) -> Result<()> {
    std::hint::black_box(cx.school_id());
    Ok(())
}

easel_sdk::plugin!(run);
