//! The batch path. At scale each event costs a read of the first-contact
//! filter, and each first contact a read of its source's two table buckets:
//! cache misses, which overlap only when they are asked for ahead. A step of
//! events is hashed and sorted by shard (one lock per shard a step), then
//! observed while a cursor prefetches what the event [`AHEAD`] places later
//! will touch, running on into the next step. With one shard, a step is
//! observed in two passes: the filter settles the repeats and marks the new
//! pairs, prefetching their sources' buckets, then the new events are
//! counted; repeats, about half the events at 10 M sources, never touch the
//! table.

use super::{Detector, Locked, BATCH};
use crate::config::Settings;
use crate::error::Error;
use crate::first_contact::{Look, Marked};
use crate::probe::Probe;
use crate::shard::Shard;
use std::mem::MaybeUninit;
use std::ptr::addr_of_mut;
use std::sync::MutexGuard;

/// An event's place in its step.
type Index = u16;
const _: () = assert!(BATCH <= Index::MAX as usize);

/// Events a batch prefetches ahead of the one it observes, in the order it
/// observes them: far enough for a cache miss to be served meanwhile, near
/// enough that the lines are still in the cache when their turn comes.
const AHEAD: usize = 32;

/// Events screened before those found new are counted, with one shard: the
/// buckets the screening prefetches for 128 events (about 60 of them new at
/// scale) stay in the core's first-level cache until counted; for a whole
/// step of [`BATCH`] they would not, and 10,000,000 sources ran 3% slower.
const PASS: usize = 128;

/// One step's probes, the shard of each, and the order they are observed
/// in: grouped by shard, each source's events in their order.
///
/// The arrays are written up to `len` by `hash_step` and left unwritten
/// beyond: a call with a few events (an ordering window's hand-over) would
/// otherwise clear kilobytes for each.
struct Step {
    probes: [MaybeUninit<Probe>; BATCH],
    shard_no: [MaybeUninit<u16>; BATCH],
    len: usize,
    /// Indexes into `probes`, grouped by shard.
    order: [MaybeUninit<Index>; BATCH],
    /// Where each shard's group starts in `order`, and where the last one
    /// ends (counting sort; only when there are at most [`BATCH`] shards,
    /// and written only up to their number, plus one for the sort).
    start: [Index; BATCH + 2],
}

/// The prefetch cursor: it walks a step's events in observing order and
/// on into the next step's, [`AHEAD`] events before the one observed.
struct Ahead<'a> {
    cur: &'a Step,
    next: Option<&'a Step>,
    pos: usize,
}

impl Ahead<'_> {
    /// Prefetches for the next event in observing order, if any.
    #[inline(always)]
    fn step(&mut self, det: &Detector) {
        let (step, i) = if self.pos < self.cur.len {
            (self.cur, self.pos)
        } else {
            match self.next {
                Some(n) if self.pos - self.cur.len < n.len => (n, self.pos - self.cur.len),
                _ => return,
            }
        };
        self.pos += 1;
        let at = step.order()[i];
        let p = step.probe(at);
        // One shard: its buckets wait for the filter's word (see
        // `run_locked`); several: they are prefetched now.
        let several = det.shards.len() > 1;
        let shard = match several {
            true => usize::from(step.shard_no()[usize::from(at)]),
            false => 0,
        };
        det.shards[shard].hint.prefetch(p, several);
    }
}

impl Detector {
    /// [`observe_batch`](Detector::observe_batch) for items that `probe` turns
    /// into probes.
    pub(super) fn observe_batch_with<T>(
        &self,
        items: &[T],
        probe: impl Fn(&Settings, &T) -> Probe,
    ) -> Result<(), Error> {
        self.refuse_reentry()?;
        let live = self.live();
        let s = &live.settings;
        let probe = |item: &T| probe(s, item);
        if !self.prefetch && self.shards.len() == 1 {
            // Nothing to prefetch and no shards to sort: one lock per step.
            for chunk in items.chunks(BATCH) {
                let mut shard = self.lock(0);
                for item in chunk {
                    if let Some((look, now)) = shard.screen(s, &probe(item)) {
                        self.count_item(s, &mut shard, item, &probe, look, now);
                    }
                }
            }
            return Ok(());
        }
        // Step k+1 is hashed and sorted by shard before step k is observed,
        // so that the prefetches run on from one step into the next.
        // Made in place: a step returned by value would be copied, kilobytes
        // a call.
        let mut slots = [const { MaybeUninit::uninit() }; 2];
        let [a, b] = &mut slots;
        let steps = [Step::empty_in(a), Step::empty_in(b)];
        for (k, chunk) in items.chunks(BATCH).enumerate() {
            self.hash_step(steps[k % 2], chunk, &probe, k == 0);
            if k > 0 {
                self.run_step(s, steps[(k - 1) % 2], Some(steps[k % 2]), k == 1);
            }
        }
        let n = items.len().div_ceil(BATCH);
        if n > 0 {
            self.run_step(s, steps[(n - 1) % 2], None, n == 1);
        }
        Ok(())
    }

    /// Hashes `chunk` into `step` and sorts it by shard. The first step of
    /// a call has no step before it to prefetch for it, so its events are
    /// prefetched as they are hashed (`first`): the hashing of the rest
    /// hides the first misses.
    #[inline(always)]
    fn hash_step<T>(
        &self,
        step: &mut Step,
        chunk: &[T],
        probe: &impl Fn(&T) -> Probe,
        first: bool,
    ) {
        let n = chunk.len();
        let shards = self.shards.len();
        if first && self.prefetch {
            for (i, item) in chunk.iter().enumerate() {
                let p = step.probes[i].write(probe(item));
                let s = self.shard_of(p.h_src);
                self.shards[s].hint.prefetch(p, shards > 1);
                step.shard_no[i].write(s as u16);
            }
        } else if shards == 1 {
            for (i, item) in chunk.iter().enumerate() {
                step.probes[i].write(probe(item));
                step.shard_no[i].write(0);
            }
        } else {
            for (i, item) in chunk.iter().enumerate() {
                let p = step.probes[i].write(probe(item));
                step.shard_no[i].write(self.shard_of(p.h_src) as u16);
            }
        }
        if shards == 1 {
            for (i, o) in step.order.iter_mut().enumerate().take(n) {
                o.write(i as Index);
            }
            step.start[0] = 0;
            step.start[1] = n as Index;
        } else if shards <= BATCH {
            // Counting sort by shard: stable, so each source's events keep
            // their order. Shard s's count goes to start[s + 2]; summed,
            // start[s + 1] is where s begins and, once its events are
            // placed, where it ends.
            step.start[..shards + 2].fill(0);
            for i in 0..n {
                // SAFETY: written above for every event below `n`.
                let s = unsafe { step.shard_no[i].assume_init() };
                step.start[usize::from(s) + 2] += 1;
            }
            for s in 2..shards + 2 {
                step.start[s] += step.start[s - 1];
            }
            for i in 0..n {
                // SAFETY: as above.
                let s = usize::from(unsafe { step.shard_no[i].assume_init() });
                let slot = &mut step.start[s + 1];
                step.order[usize::from(*slot)].write(i as Index);
                *slot += 1;
            }
        } else {
            // More shards than events: sorted by (shard, index), which keeps
            // each source's events in order without allocating.
            let mut keyed = [0u32; BATCH];
            for (i, k) in keyed[..n].iter_mut().enumerate() {
                // SAFETY: as above.
                let s = unsafe { step.shard_no[i].assume_init() };
                *k = u32::from(s) << 16 | i as u32;
            }
            keyed[..n].sort_unstable();
            for (o, k) in step.order.iter_mut().zip(&keyed[..n]) {
                o.write(*k as Index);
            }
        }
        // Every probe, shard and place below `n` is written: see `Step`.
        step.len = n;
    }

    /// Observes `step`, taking each shard's lock once, while prefetching
    /// [`AHEAD`] events before the one observed (on into `next`). `first`:
    /// the call's first step, prefetched whole as it was hashed.
    fn run_step(&self, set: &Settings, step: &Step, next: Option<&Step>, first: bool) {
        // The first step was prefetched as it was hashed; the step before
        // any other prefetched its first events.
        let mut ahead = Ahead {
            cur: step,
            next,
            pos: if first { step.len } else { AHEAD },
        };
        let n = step.len;
        let order = step.order();
        if self.shards.len() == 1 {
            self.run_locked(set, self.lock(0), step, order, &mut ahead);
        } else if self.shards.len() <= BATCH {
            let start = &step.start;
            // A shard another thread holds is left for last, so that two
            // threads sweeping the shards in the same order do not queue
            // behind each other at every step.
            let mut busy = [0 as Index; BATCH];
            let mut n_busy = 0;
            for s in 0..self.shards.len() {
                let (a, b) = (usize::from(start[s]), usize::from(start[s + 1]));
                if a == b {
                    continue;
                }
                match self.try_lock(s) {
                    Some(shard) => self.run_locked(set, shard, step, &order[a..b], &mut ahead),
                    None => {
                        busy[n_busy] = s as Index;
                        n_busy += 1;
                    }
                }
            }
            for &s in &busy[..n_busy] {
                let s = usize::from(s);
                let (a, b) = (usize::from(start[s]), usize::from(start[s + 1]));
                self.run_locked(set, self.lock(s), step, &order[a..b], &mut ahead);
            }
        } else {
            let mut a = 0;
            while a < n {
                let shard_no = step.shard_no();
                let s = shard_no[usize::from(order[a])];
                let mut b = a;
                while b < n && shard_no[usize::from(order[b])] == s {
                    b += 1;
                }
                self.run_locked(
                    set,
                    self.lock(usize::from(s)),
                    step,
                    &order[a..b],
                    &mut ahead,
                );
                a = b;
            }
        }
    }

    /// [`Shard::count`] for an item that [`Shard::screen`] found new. Its probe
    /// is made again here, out of line, so that the loop over the items holds
    /// only what screening needs.
    #[inline(never)]
    fn count_item<T>(
        &self,
        s: &Settings,
        shard: &mut Shard,
        item: &T,
        probe: &impl Fn(&T) -> Probe,
        look: Look,
        now: u32,
    ) {
        shard.count(s, &probe(item), look, now, &mut |v| self.deliver(v));
    }

    /// Observes the probes `order` of `step`, all of one shard, whose lock is
    /// held, prefetching ahead as it goes. With prefetching and one shard, in
    /// two passes: the filter settles the repeats and marks the new pairs
    /// (prefetching their sources' buckets), then the new events are counted.
    fn run_locked(
        &self,
        s: &Settings,
        mut shard: MutexGuard<'_, Locked>,
        step: &Step,
        order: &[Index],
        ahead: &mut Ahead,
    ) {
        if !self.prefetch {
            for &i in order {
                shard.observe(s, step.probe(i), &mut |v| self.deliver(v));
            }
            return;
        }
        if self.shards.len() > 1 {
            for &i in order {
                ahead.step(self);
                shard.observe(s, step.probe(i), &mut |v| self.deliver(v));
            }
            return;
        }
        // In passes of `PASS` events: the buckets prefetched in the first
        // must still be in the cache when the second counts them.
        // Unwritten beyond `n`, as a step's arrays are (see `Step`).
        let mut fresh = [const { MaybeUninit::<(Index, Marked, u32)>::uninit() }; PASS];
        for part in order.chunks(PASS) {
            let mut n = 0;
            for &i in part {
                ahead.step(self);
                if let Some((marked, now)) = shard.screen_marked(s, step.probe(i)) {
                    fresh[n].write((i, marked, now));
                    n += 1;
                }
            }
            for f in &fresh[..n] {
                // SAFETY: the first `n` were written above.
                let (i, marked, now) = unsafe { f.assume_init() };
                shard.count_marked(s, step.probe(i), marked, now, &mut |v| self.deliver(v));
            }
        }
    }
}

impl Step {
    /// The probe at `i` of those `hash_step` wrote.
    ///
    /// # Panics
    /// If `i` is not below `len` (never: indexes come from `order`).
    #[inline(always)]
    fn probe(&self, i: Index) -> &Probe {
        let i = usize::from(i);
        assert!(i < self.len, "a step's probe past its events");
        // SAFETY: `hash_step` writes every probe below `len` before `len` is
        // set, and `i` is below `len` (`len` is at most `BATCH`).
        unsafe { self.probes.get_unchecked(i).assume_init_ref() }
    }

    /// The observing order: indexes of the probes, grouped by shard.
    #[inline(always)]
    fn order(&self) -> &[Index] {
        // SAFETY: `hash_step` writes `order` below `len` before `len` is
        // set; `MaybeUninit<Index>` has `Index`'s layout.
        unsafe { std::slice::from_raw_parts(self.order.as_ptr().cast(), self.len) }
    }

    /// Each probe's shard.
    #[inline(always)]
    fn shard_no(&self) -> &[u16] {
        // SAFETY: as for `order`.
        unsafe { std::slice::from_raw_parts(self.shard_no.as_ptr().cast(), self.len) }
    }

    /// A step of no events made in `slot`, its arrays left unwritten.
    /// Not a constant copied into place: the compiler fills such a copy's
    /// unwritten bytes with zeros too, tens of kilobytes for the two steps
    /// of every call (an ordering window hands over a few events a call).
    fn empty_in(slot: &mut MaybeUninit<Step>) -> &mut Step {
        let p = slot.as_mut_ptr();
        // SAFETY: `len` and `start` are written here; the other fields
        // hold `MaybeUninit`s, which need no writing, so the step is
        // initialised when it is handed out.
        unsafe {
            addr_of_mut!((*p).len).write(0);
            addr_of_mut!((*p).start).write([0; BATCH + 2]);
            slot.assume_init_mut()
        }
    }
}
