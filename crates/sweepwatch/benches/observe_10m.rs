//! The observe bench at 10,000,000 sources (30,000,000 events): apart,
//! because the naive detector needs about 2.5 GiB there and the whole run
//! some minutes. `cargo bench -p sweepwatch --bench observe_10m` runs it;
//! `cargo bench -p sweepwatch` runs it with the others.

use criterion::{criterion_group, criterion_main, Criterion};

mod common;
#[path = "common/observe.rs"]
mod shared;

fn observe(c: &mut Criterion) {
    shared::observe(c, &[10_000_000]);
}

criterion_group!(benches, observe);
criterion_main!(benches);
