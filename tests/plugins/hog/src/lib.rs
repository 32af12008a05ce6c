//! Hostile: grows memory without bound. The host must stop it at its
//! memory cap.
use easel_sdk::{Context, Result};

fn run(_cx: &Context) -> Result<()> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![7u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

easel_sdk::plugin!(run);
