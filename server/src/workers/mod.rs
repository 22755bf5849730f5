//! Background tasks.

pub mod autoscaler;
pub mod health;
