//! The `easel` binary: parse arguments, run the command, map the exit code.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let args = easel_cli::Args::parse();
    easel_cli::main(args)
}

/// `easel runs | head` closes standard output early. Rust ignores SIGPIPE,
/// so the next `println!` panics with "Broken pipe"; end quietly instead,
/// with the status a shell gives a process that SIGPIPE ended (141).
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
