//! Autoscaling: how many rooms a scheduler wants, from its load.
//!
//! Two forms of configuration exist side by side:
//! - the trigger autoscaler of the seed (`up` / `down` lists of `room`, `cpu` and `mem` triggers,
//!   judged on usage points recorded every autoscaling period), whose trigger types are
//!   [`ScalingPolicy`] implementations found in [`policy::TRIGGER_POLICIES`];
//! - target policies (`policy{type: roomOccupancy | fixedBuffer | unreservedRooms}`), Maestro
//!   v10's, Agones' and zeuz's forms, which compute the desired count directly.
//!
//! Everything here is pure and compiles to wasm32: the server runs it every period and the
//! dashboard runs it to preview a configuration against a load curve.

mod config;
mod evaluate;
pub mod policy;
mod resource;
mod room;
pub mod simulation;
mod target;
mod unreserved;
mod validation;

pub use config::*;
pub use evaluate::*;
pub use policy::{Load, ResourceLoad, ScalingPolicy, trigger_policy, trigger_types};
pub(crate) use validation::validate_autoscaling;
