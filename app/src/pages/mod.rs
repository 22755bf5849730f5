//! Dashboard pages, one module each.

pub mod home;
