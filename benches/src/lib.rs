//! Shared code of the portcullis benches.
//!
//! Each bench group is its own target in `benches/` (`cargo bench --bench
//! ip_lookup`); `cargo bench` from the workspace root runs them all. The
//! inputs come from [`corpus`], a deterministic generator (a fixed-seed
//! xorshift), so every run measures the same work. New groups add their
//! generators there.
//!
//! Results and how they were taken are in `BENCHMARKS.md` at the root.

#![forbid(unsafe_code)]

pub mod corpus;
pub mod policies;

/// Prints a figure from bench setup (sizes, bytes per prefix) where the
/// criterion output shows it, prefixed so it is easy to grep.
pub fn note(message: impl std::fmt::Display) {
    eprintln!("[portcullis-benches] {message}");
}
