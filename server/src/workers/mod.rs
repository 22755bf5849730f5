//! Background tasks.

pub mod autoscaler;
pub mod forwarding;
pub mod health;
pub mod machines;
pub mod operations;
pub mod wakeups;
