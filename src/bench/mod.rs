//! Benchmark programs behind `mayfly bench`. They measure; they assert nothing. Results and
//! the commands that produced them go in BENCHMARKS.md.

pub mod audit;
pub mod bodies;
mod harness;
pub mod http_floor;
pub mod issue;
pub mod log;
pub mod policy;
pub mod rekor;
pub mod tsa;

/// The value at quantile `q` (0..=1) of sorted samples.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}
