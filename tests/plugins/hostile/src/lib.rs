//! Hostile: does what its `attack` param says, to show the host bounds it
//! and tells each ending apart. `stack` recurses without end, `bytes`
//! passes 2 MiB into one host call, `handles` leaks list handles, `forge`
//! uses a handle it never got, `panic` and `exit` do that; `flood` makes
//! `n` denied calls with 2 KB values, `plan-same`/`plan-distinct` plan `n`
//! writes of ~900 KB bodies to the course at `path`, `forge-log` writes
//! lines that imitate the host's.
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
        other => return Err(Error::Other(format!("unknown attack {other:?}"))),
    }
    Ok(())
}

easel_sdk::plugin!(run);
