//! `easel:canvas/types`: no functions, only the shared types.

use crate::bindings::easel::canvas::types::Host;
use crate::state::RunState;

impl Host for RunState {}
