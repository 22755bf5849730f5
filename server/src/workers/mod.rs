//! Background tasks.

pub mod health;
