//! The `easel` binary: parse arguments, run the command, map the exit code.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = easel_cli::Args::parse();
    easel_cli::main(args)
}
