//! Events per second and bytes per source: sweepwatch against a naive exact
//! detector (`HashMap<source, HashSet<(target, port)>>` plus counters) making the
//! same decisions, for 1,000 to 1,000,000 distinct sources with a realistic skew
//! (`observe_10m` runs 10,000,000).
//!
//! `cargo bench -p sweepwatch --bench observe` runs it; the memory comparison and the recall
//! (which of the naive detector's scanners sweepwatch reported) are printed
//! once per size before timing. `OBSERVE_BUDGET_SCALE=F` multiplies the
//! memory budget by F.

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
#[path = "common/observe.rs"]
mod shared;

fn observe(c: &mut Criterion) {
    shared::observe(c, &[1_000, 100_000, 1_000_000]);
}

criterion_group!(benches, observe);
criterion_main!(benches);
