//! Background tasks.

pub mod autoscaler;
pub mod health;
pub mod machines;
pub mod operations;
pub mod wakeups;
