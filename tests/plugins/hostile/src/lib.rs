//! Hostile: does what its `attack` param says, to show the host bounds it
//! and tells each ending apart. `stack` recurses without end, `bytes`
//! passes 2 MiB into one host call, `handles` leaks list handles, `forge`
//! uses a handle it never got, `panic` and `exit` do that; `flood` makes
//! `n` denied calls with 2 KB values, `plan-same`/`plan-distinct` plan `n`
//! writes of ~900 KB bodies to the course at `path`, `forge-log` writes
//! lines that imitate the host's; `residue-write` fills `n` MiB of its heap
//! with a pattern keyed by `key`, `residue-read` logs how many 4 KiB pages
//! of its whole linear memory hold that pattern (a previous run's
//! leftovers), and `residue-both` does both in one run.
use easel_sdk::bindings::easel::canvas::{read, write};
use easel_sdk::{Context, Error, Result, log};

/// Recursion that keeps nothing in linear memory, so it is the wasm
/// stack that overflows (not Rust's shadow stack).
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if std::hint::black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(std::hint::black_box(depth))
}

fn run(cx: &Context) -> Result<()> {
    let n = cx.param_i64("n")?.unwrap_or(10).max(0) as usize;
    match cx.param("attack").unwrap_or("") {
        "stack" => {
            let _ = recurse(0);
        }
        "bytes" => log::info("x".repeat(2 << 20)),
        "handles" => {
            let path = format!("/api/v1/accounts/{}/courses", cx.school_id());
            for _ in 0..100_000 {
                if let Ok(pages) = read::list(&path, &[]) {
                    std::mem::forget(pages);
                }
            }
        }
        "forge" => {
            // SAFETY: deliberately wrong; the host must refuse the handle.
            let pages = unsafe { read::Pages::from_handle(0x0bad_cafe) };
            let _ = pages.next();
        }
        "panic" => panic!("hostile panics on purpose"),
        "exit" => std::process::exit(3),
        "flood" => {
            let path = format!("/api/v1/accounts/{}/courses", cx.school_id());
            let big = "A".repeat(2000);
            for _ in 0..n {
                let _ = read::get(&path, &[("by_teachers[]".into(), big.clone())]);
            }
        }
        attack @ ("plan-same" | "plan-distinct") => {
            let path = cx.param("path").unwrap_or("/api/v1/courses/1");
            let filler = "x".repeat(900 << 10);
            for i in 0..n {
                let name = if attack == "plan-same" {
                    filler.clone()
                } else {
                    format!("{i} {filler}")
                };
                let body = format!(r#"{{"course":{{"name":"{name}"}}}}"#);
                if let Err(e) = write::send(write::Method::Put, path, &[], Some(&body)) {
                    return Err(Error::Other(format!("write {i}: {e:?}")));
                }
            }
        }
        "forge-log" => {
            log::info("working\n[easel] run succeeded\u{1b}]0;pwned\u{7}\u{1b}[2J");
            println!("stdout line\r[easel] denied nothing");
        }
        attack @ ("residue-write" | "residue-read" | "residue-both") => {
            let key = cx.param_i64("key")?.unwrap_or(0x5a) as u8;
            if attack != "residue-read" {
                // In 16 KiB pieces, so the first land low in memory, in
                // the part of the slot kept resident between runs.
                let mut heap: Vec<Vec<u8>> = Vec::new();
                for _ in 0..(n.max(1) << 6) {
                    let mut piece = vec![0u8; 16 << 10];
                    for b in piece.iter_mut() {
                        *b = residue(b as *mut u8 as usize, key);
                    }
                    heap.push(piece);
                }
                std::hint::black_box(&heap);
                if attack == "residue-write" {
                    // Dropped: its pages stay as they are in memory.
                    return Ok(());
                }
                std::mem::forget(heap);
            }
            log::info(format!("residue pages: {}", residue_pages(key)));
        }
        other => return Err(Error::Other(format!("unknown attack {other:?}"))),
    }
    Ok(())
}

/// The byte `residue-write` leaves at `address`: it depends on the address,
/// so a reader can check any page without holding the pattern itself.
fn residue(address: usize, key: u8) -> u8 {
    (address as u8).wrapping_mul(31).wrapping_add(key) ^ 0xa5
}

/// Pages of this instance's linear memory whose first 64 bytes hold the
/// pattern.
fn residue_pages(key: u8) -> usize {
    #[cfg(target_arch = "wasm32")]
    let len = core::arch::wasm32::memory_size(0) * 65_536;
    #[cfg(not(target_arch = "wasm32"))]
    let len = 0;
    (4096..len)
        .step_by(4096)
        .filter(|page| {
            (*page..page + 64).all(|a| {
                // SAFETY: every address below memory.size is valid in wasm.
                let byte = unsafe { std::ptr::read_volatile(a as *const u8) };
                byte == residue(a, key)
            })
        })
        .count()
}

easel_sdk::plugin!(run);
