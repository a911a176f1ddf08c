//! tend-supervise, run for real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
