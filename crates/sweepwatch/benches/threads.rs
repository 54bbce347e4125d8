//! Events per second of one detector fed by 1 and by 2 threads (more where
//! the machine has the cores), at 1,000,000 sources, with the observe
//! bench's workload and budget rule, in 8 shards. Each thread feeds every
//! other slice of 1,024 events through `observe_batch`, as an engine's
//! workers would.
//!
//! `cargo bench -p sweepwatch --bench threads` runs it; `threads_10m` runs
//! 10,000,000 sources.

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
#[path = "common/threads.rs"]
mod shared;

fn threads(c: &mut Criterion) {
    shared::threads(c, &[1_000_000]);
}

criterion_group!(benches, threads);
criterion_main!(benches);
