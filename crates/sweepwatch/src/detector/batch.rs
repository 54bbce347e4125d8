//! The batch path. At scale each event costs a read of the first-contact
//! filter, and each first contact a read of its source's two table buckets:
//! cache misses, which overlap only when they are asked for ahead. A step
//! (64 events) is hashed and its filter blocks prefetched while the step
//! before is observed. With one shard, a step is observed in two passes:
//! the filter settles the repeats and marks the new pairs, prefetching
//! their sources' buckets, then the new events are counted; repeats, about
//! half the events at 10 M sources, never touch the table.

use super::{Detector, BATCH};
use crate::error::Error;
use crate::first_contact::{Look, Marked};
use crate::probe::Probe;
use crate::shard::Shard;
use std::sync::MutexGuard;

/// One step's probes and the shard of each.
struct Step {
    probes: [Probe; BATCH],
    shard_no: [u16; BATCH],
    len: usize,
}

impl Detector {
    /// [`observe_batch`](Detector::observe_batch) for items that `probe` turns
    /// into probes.
    pub(super) fn observe_batch_with<T>(
        &self,
        items: &[T],
        probe: impl Fn(&T) -> Probe,
    ) -> Result<(), Error> {
        self.refuse_reentry()?;
        if !self.prefetch && self.shards.len() == 1 {
            // Nothing to prefetch and no shards to sort: one lock per step.
            for chunk in items.chunks(BATCH) {
                let mut shard = self.lock(0);
                for item in chunk {
                    if let Some((look, now)) = shard.screen(&self.settings, &probe(item)) {
                        self.count_item(&mut shard, item, &probe, look, now);
                    }
                }
            }
            return Ok(());
        }
        // Two steps in flight: step k+1 is hashed and prefetched, then step k,
        // whose memory was prefetched one step earlier, is observed.
        let mut steps = [Step::new(), Step::new()];
        for (k, chunk) in items.chunks(BATCH).enumerate() {
            self.hash_step(&mut steps[k % 2], chunk, &probe);
            if k > 0 {
                self.run_step(&steps[(k - 1) % 2]);
            }
        }
        let n = items.len().div_ceil(BATCH);
        if n > 0 {
            self.run_step(&steps[(n - 1) % 2]);
        }
        Ok(())
    }

    /// Hashes `chunk` into `step` and prefetches the filter blocks its
    /// events will read.
    #[inline(always)]
    fn hash_step<T>(&self, step: &mut Step, chunk: &[T], probe: &impl Fn(&T) -> Probe) {
        for (i, item) in chunk.iter().enumerate() {
            let p = &mut step.probes[i];
            *p = probe(item);
            let s = self.shard_of(p.h_src);
            if self.prefetch {
                // One shard: its buckets wait for the filter's word (see
                // `run_locked`). Several: a shard's group in a step is too
                // small for that, and both are prefetched now.
                self.shards[s].hint.prefetch(p, self.shards.len() > 1);
            }
            step.shard_no[i] = s as u16;
        }
        step.len = chunk.len();
    }

    /// Observes one step of probes, taking each shard's lock once: grouped by
    /// shard, each source's events in order.
    fn run_step(&self, step: &Step) {
        let (hashed, shard_no) = (&step.probes, &step.shard_no[..step.len]);
        let n = shard_no.len();
        let mut order = [0u8; BATCH];
        if self.shards.len() == 1 {
            for (i, o) in order.iter_mut().enumerate().take(n) {
                *o = i as u8;
            }
            self.run_group(0, hashed, &order[..n]);
        } else if self.shards.len() <= BATCH {
            // Counting sort by shard: stable, so each source's events keep their
            // order; one lock per shard present in the step.
            let mut start = [0u8; BATCH + 1];
            for &s in shard_no {
                start[usize::from(s) + 1] += 1;
            }
            for s in 1..=self.shards.len() {
                start[s] += start[s - 1];
            }
            let mut next = start;
            for (i, &s) in shard_no.iter().enumerate() {
                let slot = &mut next[usize::from(s)];
                order[usize::from(*slot)] = i as u8;
                *slot += 1;
            }
            // Busy shards last, as in `stages`.
            let mut busy = [0u8; BATCH];
            let mut n_busy = 0;
            for s in 0..self.shards.len() {
                let (a, b) = (usize::from(start[s]), usize::from(start[s + 1]));
                if a == b {
                    continue;
                }
                match self.try_lock(s) {
                    Some(shard) => self.run_locked(shard, hashed, &order[a..b]),
                    None => {
                        busy[n_busy] = s as u8;
                        n_busy += 1;
                    }
                }
            }
            for &s in &busy[..n_busy] {
                let s = usize::from(s);
                let (a, b) = (usize::from(start[s]), usize::from(start[s + 1]));
                self.run_group(s, hashed, &order[a..b]);
            }
        } else {
            let mut taken = 0u64;
            let mut pending = n;
            while pending > 0 {
                let first = taken.trailing_ones() as usize;
                let s = shard_no[first];
                let mut k = 0;
                for (i, &si) in shard_no.iter().enumerate().skip(first) {
                    if taken & (1 << i) == 0 && si == s {
                        order[k] = i as u8;
                        k += 1;
                        taken |= 1 << i;
                    }
                }
                pending -= k;
                self.run_group(usize::from(s), hashed, &order[..k]);
            }
        }
    }

    /// [`Shard::count`] for an item that [`Shard::screen`] found new. Its probe
    /// is made again here, out of line, so that the loop over the items holds
    /// only what screening needs.
    #[inline(never)]
    fn count_item<T>(
        &self,
        shard: &mut Shard,
        item: &T,
        probe: &impl Fn(&T) -> Probe,
        look: Look,
        now: u32,
    ) {
        shard.count(&self.settings, &probe(item), look, now, &mut |v| {
            self.deliver(v)
        });
    }

    /// Feeds the probes `order` of `hashed`, all of shard `s`, under one lock.
    fn run_group(&self, s: usize, hashed: &[Probe; BATCH], order: &[u8]) {
        self.run_locked(self.lock(s), hashed, order);
    }

    /// [`run_group`](Self::run_group) with the shard's lock already held.
    /// With prefetching and one shard, in two passes: the filter settles the
    /// repeats and marks the new pairs (prefetching their sources' buckets),
    /// then the new events are counted.
    fn run_locked(&self, mut shard: MutexGuard<'_, Shard>, hashed: &[Probe; BATCH], order: &[u8]) {
        if !self.prefetch || self.shards.len() > 1 {
            for &i in order {
                shard.observe(&self.settings, &hashed[usize::from(i)], &mut |v| {
                    self.deliver(v)
                });
            }
            return;
        }
        let mut fresh = [(0u8, Marked::default(), 0u32); BATCH];
        let mut n = 0;
        for &i in order {
            if let Some((marked, now)) =
                shard.screen_marked(&self.settings, &hashed[usize::from(i)])
            {
                fresh[n] = (i, marked, now);
                n += 1;
            }
        }
        for &(i, marked, now) in &fresh[..n] {
            shard.count_marked(
                &self.settings,
                &hashed[usize::from(i)],
                marked,
                now,
                &mut |v| self.deliver(v),
            );
        }
    }
}

impl Step {
    fn new() -> Step {
        Step {
            probes: [Probe::default(); BATCH],
            shard_no: [0; BATCH],
            len: 0,
        }
    }
}
