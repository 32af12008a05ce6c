//! Linkers: exactly the interfaces a grant allows, nothing more.
//!
//! Threat: ambient authority. WASI is linked without sockets or HTTP (those
//! interfaces are simply absent), with an empty environment, no arguments
//! and no preopened directories. `easel:canvas/write` is linked only into
//! the write linker, used for grants that include write access.

use wasmtime::Engine;
use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::clocks::WasiClocks;
use wasmtime_wasi::filesystem::WasiFilesystem;
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random};
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{
    WasiView, cli::WasiCliView, clocks::WasiClocksView, filesystem::WasiFilesystemView,
};

use crate::bindings::easel::canvas as iface;
use crate::state::RunState;

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// The store data is the host for every easel interface.
fn itself(s: &mut RunState) -> &mut RunState {
    s
}

/// A linker for read-only (`write = false`) or read-write grants.
pub(crate) fn build(engine: &Engine, write: bool) -> wasmtime::Result<Linker<RunState>> {
    let mut l = Linker::<RunState>::new(engine);
    add_wasi(&mut l)?;
    iface::types::add_to_linker::<RunState, HasSelf<RunState>>(&mut l, itself)?;
    iface::context::add_to_linker::<RunState, HasSelf<RunState>>(&mut l, itself)?;
    iface::log::add_to_linker::<RunState, HasSelf<RunState>>(&mut l, itself)?;
    iface::report::add_to_linker::<RunState, HasSelf<RunState>>(&mut l, itself)?;
    iface::read::add_to_linker::<RunState, HasSelf<RunState>>(&mut l, itself)?;
    if write {
        iface::write::add_to_linker::<RunState, HasSelf<RunState>>(&mut l, itself)?;
    }
    Ok(l)
}

/// WASI 0.2 minus sockets: io, clocks, random, cli (stdio captured, empty
/// environment), filesystem with no preopens.
fn table(s: &mut RunState) -> &mut ResourceTable {
    &mut s.table
}

fn add_wasi(l: &mut Linker<RunState>) -> wasmtime::Result<()> {
    use wasmtime_wasi_io::bindings::wasi::io;
    io::error::add_to_linker::<RunState, HasIo>(l, table)?;
    io::poll::add_to_linker::<RunState, HasIo>(l, table)?;
    io::streams::add_to_linker::<RunState, HasIo>(l, table)?;
    clocks::wall_clock::add_to_linker::<RunState, WasiClocks>(l, RunState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<RunState, WasiClocks>(l, RunState::clocks)?;
    random::random::add_to_linker::<RunState, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    random::insecure::add_to_linker::<RunState, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    random::insecure_seed::add_to_linker::<RunState, WasiRandom>(l, |s| s.ctx().ctx.random())?;
    cli::exit::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::environment::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::stdin::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::stdout::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::stderr::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::terminal_input::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::terminal_output::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::terminal_stdin::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::terminal_stdout::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    cli::terminal_stderr::add_to_linker::<RunState, WasiCli>(l, RunState::cli)?;
    filesystem::types::add_to_linker::<RunState, WasiFilesystem>(l, RunState::filesystem)?;
    filesystem::preopens::add_to_linker::<RunState, WasiFilesystem>(l, RunState::filesystem)?;
    Ok(())
}
