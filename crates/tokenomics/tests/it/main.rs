//! The reward math's integration tests, one test binary (one link) for all; each module was a
//! test binary of its own.
//!
//! * `properties`: budgets are never exceeded, caps hold, decay never increases.
//! * `spec_numbers`: the spec's numbers, reproduced exactly.

mod properties;
mod spec_numbers;
