//! A WASI command, not an easel plugin: it exports wasi:cli/run, not `run`.
fn main() {
    println!("hello from a command");
}
