//! Dashboard pages, one module each, their server functions beside them.

pub mod allocation;
pub mod audit;
pub mod capacity;
pub mod operations;
pub mod room;
pub mod scheduler;
pub mod scheduler_autoscaling;
pub mod scheduler_edit;
pub mod schedulers;
pub mod sign_in;
pub mod users;
