//! Hostile: imports wasi:http to reach the network directly. The host must
//! refuse it before it runs.
use easel_sdk::{Context, Result};

fn run(_cx: &Context) -> Result<()> {
    let req = wasi::http::types::OutgoingRequest::new(wasi::http::types::Fields::new());
    let _ = wasi::http::outgoing_handler::handle(req, None);
    Ok(())
}

easel_sdk::plugin!(run);
