//! Benchmark plugin: `n` sequential GETs of `path`, for measuring the
//! host's added latency per Canvas call.
use easel_sdk::bindings::easel::canvas::read;
use easel_sdk::{Context, Error, Result};

fn run(cx: &Context) -> Result<()> {
    let n = cx.param_i64("n")?.unwrap_or(1);
    let path = cx.require("path")?;
    for _ in 0..n {
        read::get(path, &[]).map_err(|error| Error::Canvas {
            call: format!("GET {path}"),
            error,
        })?;
    }
    Ok(())
}

easel_sdk::plugin!(run);
