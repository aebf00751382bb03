//! `mayfly bench policy`: what an issuance policy adds to each certificate request.
//!
//! The server evaluates the policy once per request, after the token is verified and before
//! anything is signed (`ca::pipeline`), so its cost adds directly to the issuance floor. This
//! times exactly that call, `Policy::evaluate`, on the claims and identity `mayfly policy test`
//! would use, and sets it against the floor measured in the same run.

use super::harness::Floor;
use super::quantile;
use crate::policy::dry_run::{DryRun, DryRunError, Input, load_files};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

pub struct Options {
    pub policy: PathBuf,
    pub claims: PathBuf,
    pub issuers: Option<PathBuf>,
    pub issuer: Option<String>,
    /// Evaluations per timed batch; 200 batches are timed.
    pub batch: u32,
}

const BATCHES: usize = 200;

pub fn run(options: Options) -> Result<(), DryRunError> {
    let loaded = load_files(
        &options.policy,
        options.issuers.as_deref(),
        Input::ClaimsFile(&options.claims),
    )?;
    let outcome = DryRun {
        issuers: &loaded.issuers,
        claims: loaded.claims.clone(),
        issuer: options.issuer,
    }
    .decide(&loaded.policy)?;
    let (policy, claims) = (&loaded.policy, &loaded.claims);
    let evaluate = || policy.evaluate(&outcome.issuer, claims, &outcome.identity);
    for _ in 0..options.batch {
        black_box(evaluate());
    }
    let batch = options.batch.max(1);
    let mut per_eval_ns: Vec<u64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(evaluate());
            }
            (start.elapsed().as_nanos() / u128::from(batch)) as u64
        })
        .collect();
    per_eval_ns.sort_unstable();
    let (p50, p99) = (quantile(&per_eval_ns, 0.5), quantile(&per_eval_ns, 0.99));

    let floor = Floor::measure();
    floor.print();
    let issuance_us = 3.0 * floor.p256_sign_us + 2.0 * floor.p256_verify_us;
    let p50_us = p50 as f64 / 1000.0;
    println!("- one issuance (ES256 token): {issuance_us:.0} µs of crypto on one core\n");
    println!(
        "policy {} ({} rules): {} by {}, identity {}",
        options.policy.display(),
        policy.len(),
        if outcome.decision.allowed {
            "allowed"
        } else {
            "denied"
        },
        outcome.decision.rule.as_deref().unwrap_or("no rule"),
        outcome.identity
    );
    println!(
        "evaluation, one core, {BATCHES} batches of {batch}: p50 {p50_us:.2} µs, p99 {:.2} µs per request = {:.1} % of the issuance floor",
        p99 as f64 / 1000.0,
        100.0 * p50_us / issuance_us
    );
    Ok(())
}
