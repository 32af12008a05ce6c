//! Hostile: never returns. The host must stop it by its CPU/wall limits.
use easel_sdk::{Context, Result};

fn run(cx: &Context) -> Result<()> {
    let mut n = cx.school_id();
    loop {
        n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

easel_sdk::plugin!(run);
