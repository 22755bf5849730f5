//! Reusable views: the page frame, badges and counts, errors, and the scheduler form.

pub mod chart;
pub mod common;
pub mod layout;
pub mod scheduler_form;
pub mod autoscaling_preview;
