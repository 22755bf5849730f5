//! Background tasks.

pub mod autoscaler;
pub mod health;
pub mod operations;
pub mod wakeups;
