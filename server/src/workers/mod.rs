//! Background tasks.

pub mod autoscaler;
pub mod forwarding;
pub mod health;
pub mod operations;
pub mod wakeups;
