//! The pure domain: compiled for the server and for the browser alike.

pub mod access;
pub mod allocation;
pub mod audit;
pub mod autoscaling;
pub mod capacity;
pub mod forwarding;
pub mod health;
pub mod history;
pub mod maestro_json;
pub mod merge_patch;
pub mod operation;
pub mod quantity;
pub mod region;
pub mod rollout;
pub mod room;
pub mod room_timeline;
pub mod scheduler;
pub mod throttle;
pub mod user;
pub mod validation;
pub mod verbatim;
pub mod version;
