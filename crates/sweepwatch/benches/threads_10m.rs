//! The threads bench at 10,000,000 sources (30,000,000 events), where the
//! detector's 287 MiB are far larger than the cache.
//! `cargo bench -p sweepwatch --bench threads_10m` runs it.

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
#[path = "common/threads.rs"]
mod shared;

fn threads(c: &mut Criterion) {
    shared::threads(c, &[10_000_000]);
}

criterion_group!(benches, threads);
criterion_main!(benches);
