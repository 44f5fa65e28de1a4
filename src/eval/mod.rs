//! Quality measurement used by imsm-eval.

pub mod metrics;
