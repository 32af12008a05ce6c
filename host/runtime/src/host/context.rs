//! `easel:canvas/context`: what the run is for. Nothing here is secret, and
//! nothing here can carry the token (it never enters the run state).

use crate::bindings::easel::canvas::context::{Host, SchoolInfo};
use crate::state::RunState;

impl Host for RunState {
    async fn params(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.params.clone())
    }

    async fn school(&mut self) -> wasmtime::Result<SchoolInfo> {
        Ok(SchoolInfo {
            account_id: self.school.id,
            name: self.school.name.clone(),
        })
    }

    async fn instance(&mut self) -> wasmtime::Result<String> {
        Ok(self.instance.clone())
    }

    async fn dry_run(&mut self) -> wasmtime::Result<bool> {
        Ok(self.dry_run)
    }

    async fn run_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.run_id.clone())
    }
}
