//! Reusable views: the page frame, badges and counts, errors, and the scheduler form.

pub mod activity;
pub mod autoscaling_preview;
pub mod capacity;
pub mod chart;
pub mod common;
pub mod layout;
pub mod live;
pub mod scheduler_form;
