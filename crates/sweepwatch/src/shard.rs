//! One partition of the sources: its table, pool and first-contact filter, and
//! the decisions made on them. Knows nothing of locks or threads.

use crate::config::Settings;
use crate::event::{Outcome, Protocol, Timestamp};
use crate::evidence::{Evidence, Extent, Flag, Ports, Shown};
use crate::evidence_pool::{EvidenceId, EvidencePool};
use crate::first_contact::{FirstContactFilter, Look, Marked};
use crate::hash::{mix32, mix64, service, unmix32};
use crate::net::AddrKey;
use crate::probe::Probe;
use crate::small_evidence::{Place, PORTS};
use crate::stats::Stats;
use crate::table::{fp_of, Record, Slot, Table, Visit};
use crate::verdict::{Verdict, MAX_VERDICT_SAMPLE};

/// The 32 bits of a 64-bit hash that the distinct counters take.
#[inline]
fn top32(h: u64) -> u32 {
    (h >> 32) as u32
}

/// A pair's item in the evidence's distinct counters. The pair hash is made
/// for the first-contact filter, which reads its low and middle bits; its
/// top bits, which a HyperLogLog register index and rank come from, vary too
/// little across the targets of one subnet for an estimate (a sweep of one
/// subnet was overcounted), so they are mixed first.
#[inline]
fn evidence_pair(pair: u64) -> u32 {
    top32(mix64(pair))
}

/// A target's item in the evidence's distinct counters.
#[inline]
fn host_item(s: &Settings, dst: u128) -> u32 {
    top32(mix64(s.hasher.hash(dst)))
}

/// A destination port's item in the evidence's distinct counters, under a
/// secret key: mixed by a bijection, so that [`port_of`] gives the port back
/// when the ports move to an exact map.
#[inline]
fn port_item(s: &Settings, port: u16) -> u32 {
    mix32(u32::from(port) ^ port_key(s))
}

/// The port whose [`port_item`] is `item`.
#[inline]
fn port_of(s: &Settings, item: u32) -> u16 {
    (unmix32(item) ^ port_key(s)) as u16
}

/// The secret that port items are keyed by.
#[inline]
fn port_key(s: &Settings) -> u32 {
    top32(s.hasher.hash(PORT_KEY))
}

/// What [`port_key`] hashes: no address's key (addresses are IPv4-mapped or
/// IPv6, never this).
const PORT_KEY: u128 = 0x706f_7274;

/// Share of each shard's memory: table 9/16, filter 2/16, pool 5/16. The pool
/// gets more than the filter because every source with a failure wants an entry
/// (most of them benign, with one refused connection), while a smaller filter
/// only turns over sooner.
const TABLE_SIXTEENTHS: u64 = 9;
const FILTER_SIXTEENTHS: u64 = 2;
const POOL_SIXTEENTHS: u64 = 5;

/// A small shard's filter takes up to a quarter of it, to this size (8,192
/// pairs a generation), from the table: a budget that small watches few
/// sources, and they make many pairs each.
const MIN_FILTER_BYTES: u64 = 64 << 10;

/// Seconds before the first event that later, reordered events may carry
/// (also [`FirstContacts`](crate::FirstContacts)' clock's).
pub(crate) const EPOCH_SLACK: u64 = 3600;

#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
struct ShardCounts {
    events: u64,
    ignored: u64,
    allowed: u64,
    unsolicited: u64,
    duplicates: u64,
    live: u64,
    evicted: u64,
    expired: u64,
    evidence_denied: u64,
    verdicts: u64,
    turned_away: u64,
    collisions: u64,
}

/// The addresses and sizes of a shard's table and filter. Both are allocated
/// once and never move, so a batch can prefetch what an event will touch while
/// another thread holds the shard's lock: a prefetch reads nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hint {
    table: (usize, u64),
    filter: (usize, u64),
}

impl Hint {
    /// Bytes of the table and filter together.
    pub(crate) fn bytes(&self) -> u64 {
        self.table.1 * crate::table::BUCKET_BYTES
            + self.filter.1 * crate::first_contact::BLOCK_BYTES
    }

    /// Prefetches what screening `hx` will touch: the filter's block, and
    /// the source's buckets if `table`. Without, they are prefetched once the
    /// filter has found the event new ([`Shard::screen_marked`]): many events
    /// at scale repeat a pair, and their buckets would only crowd the memory
    /// system.
    #[inline]
    pub(crate) fn prefetch(&self, hx: &Probe, table: bool) {
        if table {
            crate::table::prefetch_at(self.table, hx.h_src);
        }
        crate::first_contact::prefetch_at(self.filter, hx.pair);
    }
}

pub(crate) struct Shard {
    table: Table,
    filter: FirstContactFilter,
    pool: EvidencePool,
    epoch: Option<u64>,
    /// The microsecond that the latest tick's second starts at, and its
    /// length (0 before the first event).
    second: (u64, u64),
    /// Seconds since the epoch at the latest tick.
    now: u32,
    c: ShardCounts,
}

impl Shard {
    /// A shard whose table, filter and pool share `bytes`.
    ///
    /// # Errors
    /// [`Error::NoMemory`](crate::Error::NoMemory) if the memory cannot be had.
    pub(crate) fn try_with_bytes(bytes: u64) -> Result<Shard, crate::Error> {
        let filter = (bytes / 16 * FILTER_SIXTEENTHS).max((bytes / 4).min(MIN_FILTER_BYTES));
        let pool = bytes / 16 * POOL_SIXTEENTHS;
        let table = (bytes / 16 * TABLE_SIXTEENTHS).min(bytes - filter - pool);
        Ok(Shard {
            table: Table::with_bytes(table)?,
            filter: FirstContactFilter::with_bytes(filter)?,
            pool: EvidencePool::with_bytes(pool)?,
            epoch: None,
            second: (0, 0),
            now: 0,
            c: ShardCounts::default(),
        })
    }

    /// [`try_with_bytes`](Self::try_with_bytes) for tests, which have the memory.
    #[cfg(test)]
    pub(crate) fn with_bytes(bytes: u64) -> Shard {
        Shard::try_with_bytes(bytes).expect("test shard memory")
    }

    /// Seconds since the shard's epoch. Events mostly arrive in the second of
    /// the one before, which is then read from the last tick.
    #[inline(always)]
    fn clock(&mut self, ts: Timestamp, s: &Settings) -> u32 {
        if ts.0.wrapping_sub(self.second.0) >= self.second.1 {
            self.tick(ts, s);
        }
        self.now
    }

    /// Reads the clock at an event of another second than the last: turns the
    /// filter over when its period has passed.
    #[cold]
    #[inline(never)]
    fn tick(&mut self, ts: Timestamp, s: &Settings) {
        let secs = ts.as_secs();
        let epoch = match self.epoch {
            Some(e) => e,
            None => self.set_epoch(secs, s),
        };
        self.now = secs.saturating_sub(epoch).min(u64::from(u32::MAX)) as u32;
        self.second = (secs * 1_000_000, 1_000_000);
        self.filter.tick(self.now);
    }

    /// Fixes the epoch at the first event, early enough for reordered ones.
    #[cold]
    fn set_epoch(&mut self, secs: u64, s: &Settings) -> u64 {
        let e = secs.saturating_sub(EPOCH_SLACK);
        self.epoch = Some(e);
        self.filter.start((secs - e) as u32, s.dedup);
        e
    }

    fn abs(&self, rel: u32) -> Timestamp {
        Timestamp::from_secs(self.epoch.unwrap_or(0) + u64::from(rel))
    }

    /// Where the shard's arrays are, to prefetch without its lock.
    pub(crate) fn hint(&self) -> Hint {
        Hint {
            table: self.table.geometry(),
            filter: self.filter.geometry(),
        }
    }

    /// Forgets the record at `slot`, returning its evidence to the pool.
    fn clear(&mut self, slot: usize) {
        let evidence = self.table.get(slot).evidence;
        self.table.set(slot, Record::default());
        self.pool.release(evidence);
    }

    /// True while a reported source's suppression period runs: its reporting
    /// history must outlive its evidence, or a pause would repeat the verdict.
    fn suppressing(&self, r: &Record, now: u32, s: &Settings) -> bool {
        r.evidence
            .and_then(|id| self.pool.large(id))
            .is_some_and(|e| e.reported != 0 && now.saturating_sub(e.last_report) < s.suppress)
    }

    /// How much a record is worth keeping when both its buckets are full:
    /// higher keeps. Reported sources first, then suspicion, then recency.
    fn worth(&self, r: &Record, now: u32, s: &Settings) -> i64 {
        if !r.occupied() {
            return i64::MIN;
        }
        let reported = self.pool.reported(r.evidence);
        if r.idle(now, s.timeouts) && !reported {
            return i64::MIN + 1;
        }
        (i64::from(reported) << 40) + (i64::from(r.llr) << 20) + i64::from(r.last_seen & 0xF_FFFF)
    }

    /// Starts a new episode for a source idle past its timeout: the old evidence
    /// has gone stale (its final extent is delivered first, if it was
    /// reported), but a recent verdict still suppresses repeats.
    fn restart(&mut self, slot: usize, now: u32, s: &Settings, sink: &mut dyn FnMut(&Verdict)) {
        self.close(s, slot, sink);
        let old = self.table.get(slot);
        let mut fresh = Record::fresh(old.fp, now);
        if self.suppressing(&old, now, s) {
            self.forget_evidence(slot);
            fresh.evidence = old.evidence;
        } else {
            self.pool.release(old.evidence);
        }
        self.table.set(slot, fresh);
    }

    /// Empties the evidence of the source at `slot`, keeping its reporting
    /// history: its episode has ended.
    fn forget_evidence(&mut self, slot: usize) {
        let Some(id) = self.table.get(slot).evidence else {
            return;
        };
        let rotations = self.filter.rotations as u32;
        self.pool.release_map(id);
        if let Some(e) = self.pool.large_mut(id) {
            let (key, proto) = (e.key, e.proto);
            let (reported, last, size) = (e.reported, e.last_report, e.last_targets);
            e.keep_reports(slot as u32, key, proto, reported, last, size);
            e.since = rotations;
        }
    }

    /// Feeds one probe. A repeat of a pair already known (most events) is
    /// settled by the first-contact filter alone; a first contact finds or
    /// places its source in the table, and evidence is kept out of line.
    #[inline(always)]
    pub(crate) fn observe(&mut self, s: &Settings, hx: &Probe, sink: &mut dyn FnMut(&Verdict)) {
        if let Some((look, now)) = self.screen(s, hx) {
            self.count(s, hx, look, now, sink);
        }
    }

    /// The steps of [`observe`](Self::observe) that settle most events without
    /// reading the source's record: unsolicited, ignored, allowed and repeated
    /// events are counted here. Otherwise the filter's answer and the time,
    /// for [`count`](Self::count).
    #[inline(always)]
    pub(crate) fn screen(&mut self, s: &Settings, hx: &Probe) -> Option<(Look, u32)> {
        self.c.events += 1;
        if hx.outcome == Outcome::Unsolicited {
            self.c.unsolicited += 1;
            return None;
        }
        if s.may_screen(hx.src_lead, hx.dst_lead, hx.dst_port) {
            if s.ignored(hx.dst, hx.dst_lead, hx.dst_port) {
                self.c.ignored += 1;
                return None;
            }
            if s.allowed(hx.src, hx.src_lead, hx.dst_port) {
                self.c.allowed += 1;
                return None;
            }
        }
        let now = self.clock(hx.ts, s);
        let is_outcome = hx.outcome != Outcome::Attempt;
        let look = self.filter.look(hx.pair, is_outcome);
        if look.repeat {
            // A retransmitted attempt or an outcome counted before: the walk
            // stays, and the source's record is not read. Its last-seen time
            // is that of its latest first contact; its pairs are forgotten
            // within two dedup periods, so a source still talking is seen
            // again by then.
            self.c.duplicates += u64::from(is_outcome);
            return None;
        }
        Some((look, now))
    }

    /// [`screen`](Self::screen), then marks a new event's pair in the filter
    /// at once and prefetches its source's buckets, for a batch that screens
    /// a group of events before it counts the new ones
    /// ([`count_marked`](Self::count_marked)): a pair that comes twice in the
    /// group is new only the first time, as if each were counted in turn.
    #[inline(always)]
    pub(crate) fn screen_marked(&mut self, s: &Settings, hx: &Probe) -> Option<(Marked, u32)> {
        let (look, now) = self.screen(s, hx)?;
        crate::table::prefetch_at(self.table.geometry(), hx.h_src);
        Some((self.filter.record(look), now))
    }

    /// Counts an event that [`screen`](Self::screen) found new (`look`, at
    /// shard time `now`): the source's walk, and its evidence if it has failures.
    /// Inlined, so that callers choose whether it stays in line (first contacts
    /// are common at scale) or not (a loop of mostly repeats keeps fewer
    /// registers without it).
    #[inline(always)]
    pub(crate) fn count(
        &mut self,
        s: &Settings,
        hx: &Probe,
        look: Look,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) {
        let marked = self.filter.record(look);
        self.count_marked(s, hx, marked, now, sink);
    }

    /// [`count`](Self::count) for an event whose pair the filter has marked
    /// already (`marked`: what it knew before).
    #[inline(always)]
    pub(crate) fn count_marked(
        &mut self,
        s: &Settings,
        hx: &Probe,
        mut marked: Marked,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) {
        let Some(Visit {
            slot,
            mut llr,
            evidence: id,
        }) = self.record_of(s, hx, hx.h_src, now, sink)
        else {
            return;
        };

        // A source with nothing failed to remember needs no evidence unless this
        // outcome is a failure that counts.
        let mut evidence = id.is_some();
        if let (Some(id), true) = (id, marked.new_outcome) {
            // The filter forgets pairs after a dedup period or two; the
            // evidence knows exactly which pairs were resolved while it holds
            // them all (64), so a retry hours later is no new first contact.
            marked.new_outcome = if let Some(small) = self.pool.small(id) {
                small
                    .known(hx.dst, hx.dst_port)
                    .is_none_or(|bit| small.resolved & (1 << bit) == 0)
            } else if let Some(e) = self.pool.large(id) {
                match e.probes.position(evidence_pair(hx.pair)) {
                    Some(Some(i)) => e.resolved & (1 << i) == 0,
                    // Not probed yet, or too many pairs to know: the filter's say.
                    Some(None) | None => true,
                }
            } else {
                true
            };
        }
        if marked.new_outcome {
            let w = s.walk;
            let failure = hx.outcome.is_failure();
            let step = if failure {
                w.fail_step
            } else if hx.proto == Protocol::Icmp {
                // An answered ping says only that a host is up, which is what
                // a ping sweep looks for; unlike a served connection it shows
                // no benign purpose. Taken in the order the pings were sent, a
                // sweep of a LAN whose hosts are mostly up would otherwise
                // never decide.
                0
            } else {
                w.success_step
            };
            // Held between the bounds rather than started over at the lower
            // one: a source whose first contacts are mostly answered (a
            // peer-to-peer client) keeps that evidence, and a run of failures
            // must outweigh it before it decides.
            llr = llr.saturating_add(step).clamp(w.lower, w.upper);
            self.table.set_llr(slot, llr);
            evidence |= failure;
        }
        if !evidence {
            return;
        }
        self.gather(s, hx, slot, marked, llr, now, sink);
    }

    /// The record of `hx`'s source under hash `h` (its index, walk and pool
    /// link), placing it if need be. A record whose evidence names another
    /// address (or protocol) belongs to a source whose hash collides with
    /// this one's: the source is tracked under its second identity instead,
    /// so colliding sources never share evidence or a verdict's name. `None`
    /// if the source was turned away, or both its identities are taken.
    #[inline(always)]
    fn record_of(
        &mut self,
        s: &Settings,
        hx: &Probe,
        h: u64,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) -> Option<Visit> {
        let found = self.find_or_place(s, hx, h, now, sink)?;
        if self.holds(found, hx) {
            return Some(found);
        }
        self.second_record(s, hx, h, now, sink)
    }

    /// The live record of hash `h` (its index, walk and pool link), else one
    /// placed for it.
    #[inline(always)]
    fn find_or_place(
        &mut self,
        s: &Settings,
        hx: &Probe,
        h: u64,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) -> Option<Visit> {
        if let Some(found) = self.table.visit(h, fp_of(h), now, s.timeouts) {
            return Some(found);
        }
        let i = self.place(s, hx, h, now, sink)?;
        let r = self.table.get(i);
        Some(Visit {
            slot: i,
            llr: r.llr,
            evidence: r.evidence,
        })
    }

    /// True if `found` has no evidence or evidence of `hx`'s source.
    #[inline(always)]
    fn holds(&self, found: Visit, hx: &Probe) -> bool {
        found
            .evidence
            .is_none_or(|id| self.pool.is_of(id, hx.src, hx.proto.index()))
    }

    /// [`record_of`](Self::record_of) under the source's second identity,
    /// after its first (hash `first`) was found holding another's evidence.
    #[cold]
    #[inline(never)]
    fn second_record(
        &mut self,
        s: &Settings,
        hx: &Probe,
        first: u64,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) -> Option<Visit> {
        self.c.collisions += 1;
        let h = s.hasher.second(hx.src, hx.zone, hx.proto.index());
        if h == first {
            return None;
        }
        let found = self.find_or_place(s, hx, h, now, sink)?;
        // Both identities taken by others: a collision of two independent
        // keyed hashes, which nobody can aim at without the keys.
        self.holds(found, hx).then_some(found)
    }

    /// True if the record at `i` may be pushed out for a newcomer whose event
    /// is `hx`: a source holding evidence (a pool entry) stays while it has
    /// been reported, or while its walk has more evidence of scanning than
    /// the newcomer's first event can bring (one failure's step).
    fn yields_to(&self, i: usize, hx: &Probe, now: u32, s: &Settings) -> bool {
        let r = self.table.get(i);
        if r.evidence.is_none() || r.idle(now, s.timeouts) {
            return true;
        }
        let newcomer = if hx.outcome.is_failure() {
            s.walk.fail_step
        } else {
            0
        };
        !self.pool.reported(r.evidence) && r.llr <= newcomer
    }

    /// The record for a source not found live in its first bucket: found in
    /// its second, a fresh episode for an idle one, a vacant record, or room
    /// made by eviction; `None` (turned away) when the least valuable record
    /// of both buckets has more evidence than the newcomer.
    #[inline(never)]
    fn place(
        &mut self,
        s: &Settings,
        hx: &Probe,
        h_src: u64,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) -> Option<usize> {
        let fp = fp_of(h_src);
        let buckets = self.table.buckets_of(h_src);
        Some(match self.table.locate(fp, buckets) {
            Slot::Found(i) => {
                if self.table.is_idle(i, now, s.timeouts) {
                    self.restart(i, now, s, sink);
                } else {
                    self.table.touch(i, now);
                }
                i
            }
            Slot::Vacant(i) => {
                self.c.live += 1;
                self.table.set(i, Record::fresh(fp, now));
                i
            }
            Slot::Full => {
                let i = self.table.victim(buckets, |r| self.worth(r, now, s));
                if !self.yields_to(i, hx, now, s) {
                    self.c.turned_away += 1;
                    return None;
                }
                if self.table.is_idle(i, now, s.timeouts) {
                    self.c.expired += 1;
                } else {
                    self.c.evicted += 1;
                }
                self.close(s, i, sink);
                self.clear(i);
                self.table.set(i, Record::fresh(fp, now));
                i
            }
        })
    }

    /// Adds a probe to the evidence of the source at `slot`, taking a small
    /// record at its first counted failure and a large one once it outgrows
    /// that, and decides once the walk says so.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn gather(
        &mut self,
        s: &Settings,
        hx: &Probe,
        slot: usize,
        marked: Marked,
        llr: i16,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) {
        let counted = hx.outcome != Outcome::Attempt && marked.new_outcome;
        let mut id = match self.table.get(slot).evidence {
            Some(id) => id,
            None => match self.pool.acquire(
                slot,
                hx.src,
                hx.proto.index(),
                llr,
                &mut self.table,
                now,
                s.timeouts,
            ) {
                Some(id) => {
                    self.table.set_evidence(slot, Some(id));
                    id
                }
                None => {
                    self.c.evidence_denied += 1;
                    return;
                }
            },
        };

        let dst_home = hx.dst_home(s);
        if self.pool.small(id).is_some() {
            let held = self.gather_small(s, hx, id, counted, dst_home);
            let due = held && counted && llr >= s.walk.upper && self.reportable(s, id);
            if held && !due {
                return;
            }
            let Some(large) = self.promote(s, id, llr, now, hx) else {
                self.c.evidence_denied += 1;
                return;
            };
            id = large;
            if held {
                self.decide(s, slot, hx.ts, now, dst_home, sink);
                return;
            }
        }
        let Some(e) = self.pool.large_mut(id) else {
            return;
        };
        e.src_home = Flag::new(hx.src_home(s));
        let pair = evidence_pair(hx.pair);
        // Whether this (target, port) is new to the evidence: exactly while
        // the evidence holds its pairs, else as the filter says.
        let fresh = match e.probes.contains(pair) {
            Some(known) => !known,
            None => marked.new_probe || marked.new_outcome,
        };
        if fresh {
            // An outcome whose attempt fell in an earlier episode is new here.
            e.probes.insert(pair);
            e.hosts.insert(host_item(s, hx.dst));
            let t = &mut e.techniques[hx.technique.index()];
            *t = t.saturating_add(1);
            if dst_home {
                e.to_home = e.to_home.saturating_add(1);
            } else {
                e.to_away = e.to_away.saturating_add(1);
            }
            self.add_port(s, id, hx.dst_port);
        }
        if !counted {
            return;
        }
        let Some(e) = self.pool.large_mut(id) else {
            return;
        };
        if let Some(Some(i)) = e.probes.position(pair) {
            e.resolved |= 1 << i;
        }
        match hx.outcome {
            Outcome::Established => e.succeeded = e.succeeded.saturating_add(1),
            Outcome::Refused => e.refused = e.refused.saturating_add(1),
            _ => e.unanswered = e.unanswered.saturating_add(1),
        }
        e.top.add(hx.dst_port);
        if hx.outcome.is_failure() {
            e.add_sample(hx.dst);
        }
        if llr >= s.walk.upper {
            self.decide(s, slot, hx.ts, now, dst_home, sink);
        }
    }

    /// Adds destination `port` to the ports of large record `id`: to its
    /// port map if it has one; past the counter's exact range, to a free
    /// map, filled with the ports held so far; else to the counter.
    fn add_port(&mut self, s: &Settings, id: EvidenceId, port: u16) {
        let item = port_item(s, port);
        let Some(e) = self.pool.large(id) else {
            return;
        };
        // Past the exact range: a new port beside a full list of held ones.
        let mapped = e.port_map != 0
            || (e
                .ports
                .items()
                .is_some_and(|held| held.len() == Ports::CAPACITY && !held.contains(&item))
                && self.map_ports(s, id));
        if !mapped {
            if let Some(e) = self.pool.large_mut(id) {
                e.ports.insert(item);
            }
            return;
        }
        let Some(m) = self.pool.large(id).map(|e| e.port_map) else {
            return;
        };
        if self.pool.map_mut(m).insert(port) {
            if let Some(e) = self.pool.large_mut(id) {
                e.map_ports += 1;
            }
        }
    }

    /// Moves the ports that large record `id` holds exactly to a free
    /// port map; false if none is free.
    fn map_ports(&mut self, s: &Settings, id: EvidenceId) -> bool {
        let Some(held) = self.pool.large(id).and_then(|e| e.ports.items()) else {
            return false;
        };
        let held: [u32; Ports::CAPACITY] = match held.try_into() {
            Ok(held) => held,
            Err(_) => return false,
        };
        let Some(m) = self.pool.take_map() else {
            return false;
        };
        let map = self.pool.map_mut(m);
        for item in held {
            map.insert(port_of(s, item));
        }
        if let Some(e) = self.pool.large_mut(id) {
            e.port_map = m;
            e.map_ports = held.len() as u32;
        }
        true
    }

    /// Adds a probe to the small record `id`; false if the record cannot
    /// hold its target or port, and is left as it was. `counted`: the probe
    /// is an outcome not counted before.
    fn gather_small(
        &mut self,
        s: &Settings,
        hx: &Probe,
        id: EvidenceId,
        counted: bool,
        dst_home: bool,
    ) -> bool {
        let Some(e) = self.pool.small_mut(id) else {
            return false;
        };
        let Place::Bit(bit) = e.place(hx.dst, hx.dst_port) else {
            return false;
        };
        e.src_home = Flag::new(hx.src_home(s));
        if e.probed & (1 << bit) == 0 {
            e.probed |= 1 << bit;
            let t = &mut e.techniques[hx.technique.index()];
            *t = t.saturating_add(1);
            if dst_home {
                e.to_home = e.to_home.saturating_add(1);
            } else {
                e.to_away = e.to_away.saturating_add(1);
            }
        }
        // Its own pairs are known exactly, so an outcome counted is a new one.
        if counted && e.resolved & (1 << bit) == 0 {
            e.resolved |= 1 << bit;
            match hx.outcome {
                Outcome::Established => e.succeeded = e.succeeded.saturating_add(1),
                Outcome::Refused => e.refused = e.refused.saturating_add(1),
                _ => e.unanswered = e.unanswered.saturating_add(1),
            }
            if hx.outcome.is_failure() {
                e.add_sample((bit as usize / PORTS) as u8);
            }
        }
        true
    }

    /// Whether the small record `id` holds enough to report: the size
    /// its kind is judged by (both counts exact, so the larger) reaches
    /// `min_targets`, and failures are no fewer than answers.
    fn reportable(&self, s: &Settings, id: EvidenceId) -> bool {
        let Some(e) = self.pool.small(id) else {
            return false;
        };
        let size = u32::from(e.n_hosts.max(e.n_ports));
        let icmp = e.proto == Protocol::Icmp.index();
        size >= s.min_targets && (icmp || u32::from(e.succeeded) <= e.failed())
    }

    /// Moves the evidence of small record `id` to a large record, taken
    /// from the pool as a small one is: its id, or None if none could
    /// be had.
    fn promote(
        &mut self,
        s: &Settings,
        id: EvidenceId,
        llr: i16,
        now: u32,
        hx: &Probe,
    ) -> Option<EvidenceId> {
        let small = *self.pool.small(id)?;
        let rotations = self.filter.rotations as u32;
        let large = self
            .pool
            .promote(id, llr, &mut self.table, now, s.timeouts)?;
        let e = self.pool.large_mut(large)?;
        // Its outcomes were counted once per pair, as the large record counts
        // them while the filter forgets none.
        e.since = rotations;
        // The small record holds no zone (it is the probe's source's).
        e.zone = hx.zone;
        e.src_home = small.src_home;
        e.refused = small.refused.into();
        e.unanswered = small.unanswered.into();
        e.succeeded = small.succeeded.into();
        e.to_home = small.to_home.into();
        e.to_away = small.to_away.into();
        for (t, n) in e.techniques.iter_mut().zip(small.techniques) {
            *t = n.into();
        }
        let hosts = &small.hosts[..usize::from(small.n_hosts)];
        let ports = &small.ports[..usize::from(small.n_ports)];
        // The pairs are hashed as the probe's own were: from its source hash.
        let h_src = hx.h_src;
        for (h, dst) in hosts.iter().enumerate() {
            e.hosts.insert(host_item(s, *dst));
            for (p, port) in ports.iter().enumerate() {
                let bit = 1 << (h * PORTS + p);
                if small.probed & bit == 0 {
                    continue;
                }
                let pair = evidence_pair(s.hasher.pair(h_src, *dst, service(*port, small.proto)));
                e.probes.insert(pair);
                if small.resolved & bit != 0 {
                    if let Some(Some(i)) = e.probes.position(pair) {
                        e.resolved |= 1 << i;
                    }
                }
            }
        }
        for (p, port) in ports.iter().enumerate() {
            e.ports.insert(port_item(s, *port));
            for _ in 0..small.port_outcomes(p) {
                e.top.add(*port);
            }
        }
        for h in small.sample().rev() {
            e.add_sample(small.hosts[h]);
        }
        Some(large)
    }

    /// Whether every outcome evidence `e` counted was of a distinct pair:
    /// the first-contact filter has not retired a generation since the
    /// evidence was taken, so it has forgotten none of the pairs counted.
    fn once_each(&self, e: &Evidence) -> bool {
        self.filter.rotations as u32 == e.since
    }

    /// What the evidence of the source at `slot` shows now, as a verdict (not
    /// yet delivered), with the size its kind is judged by. `dst_home` breaks
    /// a tie between probes to home and elsewhere.
    fn shape(&self, slot: usize, ts: Timestamp, dst_home: bool) -> Option<(Verdict, u32)> {
        let r = self.table.get(slot);
        let e = self.pool.large(r.evidence?)?;
        let x = Extent::of(e, dst_home, self.once_each(e));
        let mut v = Verdict::empty();
        v.kind = x.kind;
        v.src = AddrKey::from_bits(e.key).ip();
        v.zone = e.zone;
        v.direction = x.direction;
        v.proto = x.proto;
        // Each count holds at least what an earlier verdict of the episode
        // stated: estimates may dip as they take more items, but an earlier
        // lower bound of evidence that has only grown is still one.
        // Outcomes are counted, never derived from each other; above the
        // exact range a pair answered again after the filter's dedup period
        // counts again, so they are capped by the probes they answer,
        // failures first.
        let shown = e.shown;
        let probes = x.probes.max(shown.probes);
        v.failed = shown.failed.max(x.failed.min(probes - shown.succeeded));
        v.succeeded = shown.succeeded.max(e.succeeded.min(probes - v.failed));
        v.unanswered = e.unanswered.min(v.failed);
        v.probes = probes;
        v.targets = x.hosts.max(shown.hosts);
        v.ports_count = x.ports.max(shown.ports);
        v.first_seen = self.abs(r.first_seen);
        v.ts = ts;
        v.score = f32::from(r.llr) / crate::config::WALK_SCALE as f32;
        v.technique = e.technique();
        v.n_ports = e.top.sorted_into(&mut v.port_list);
        let n = usize::from(e.n_sample).min(MAX_VERDICT_SAMPLE);
        for (o, k) in v.sample_list.iter_mut().zip(&e.sample[..n]) {
            *o = AddrKey::from_bits(*k).ip();
        }
        v.n_sample = n as u8;
        Some((v, x.size))
    }

    /// The scanner hypothesis holds for the source at `slot`: report it if its
    /// shape and size qualify and it has not been reported lately. `now` is
    /// the shard time of the deciding event, not the shard's clock: a batch
    /// screens a step of events before it counts them, and the clock has
    /// read the step's last one by then (whose time may differ by hours when
    /// several sensors' events meet), so a decision must not depend on where
    /// a batch was cut.
    #[allow(clippy::too_many_arguments)]
    fn decide(
        &mut self,
        s: &Settings,
        slot: usize,
        ts: Timestamp,
        now: u32,
        dst_home: bool,
        sink: &mut dyn FnMut(&Verdict),
    ) {
        let Some(id) = self.table.get(slot).evidence else {
            return;
        };
        // Kind and size first: most calls, for a scanner reported already,
        // end here without building a verdict.
        let Some(e) = self.pool.large(id) else {
            return;
        };
        let Extent {
            kind,
            size,
            proto,
            failed,
            ..
        } = Extent::of(e, dst_home, self.once_each(e));
        if size < s.min_targets {
            return;
        }
        // A scanner's first contacts mostly fail; one whose evidence holds
        // more answered contacts than failed ones is not reported, however
        // its walk ran (answered pings are no evidence either way).
        if proto != Protocol::Icmp && e.succeeded > failed {
            return;
        }
        if e.reported & kind.bit() != 0 {
            // Again once the suppression period has passed, if it grew; or
            // at once when it grew tenfold.
            let stale = now.saturating_sub(e.last_report) >= s.suppress && size > e.last_targets;
            let grown = u64::from(size) >= 10 * u64::from(e.last_targets);
            if !(stale || grown) {
                return;
            }
        }
        let Some((v, _)) = self.shape(slot, ts, dst_home) else {
            return;
        };
        let Some(e) = self.pool.large_mut(id) else {
            return;
        };
        e.shown = Shown::of(&v);
        e.reported |= kind.bit();
        e.last_report = now;
        e.last_targets = size;
        e.extent_due = Flag::YES;
        self.c.verdicts += 1;
        sink(&v);
    }

    /// Ends the episode of the source at `slot`: delivers its final extent if
    /// a verdict was delivered in it and no extent since.
    fn close(&mut self, s: &Settings, slot: usize, sink: &mut dyn FnMut(&Verdict)) {
        let r = self.table.get(slot);
        let Some(id) = r.evidence.filter(|_| r.occupied()) else {
            return;
        };
        if !self.pool.large(id).is_some_and(|e| e.extent_due.get()) {
            return;
        }
        let Some((mut v, size)) = self.shape(slot, self.abs(r.last_seen), false) else {
            return;
        };
        let Some(e) = self.pool.large_mut(id) else {
            return;
        };
        e.extent_due = Flag::NO;
        e.shown = Shown::of(&v);
        // Evidence only grows within an episode, so this holds; the check
        // keeps extents and verdicts to one rule.
        if size >= s.min_targets {
            v.is_final = true;
            sink(&v);
        }
    }

    /// Delivers the final extent of every source reported in its current
    /// episode: its evidence as it stands, whether or not it grew. A source
    /// whose verdict belongs to an earlier episode (its reporting history is
    /// kept while the suppression period runs) has no extent worth stating
    /// until its new evidence reaches `min_targets` again.
    pub(crate) fn flush(&self, s: &Settings, sink: &mut dyn FnMut(&Verdict)) {
        for i in 0..self.table.capacity() {
            let r = self.table.get(i);
            if !r.occupied() || !self.pool.reported(r.evidence) {
                continue;
            }
            let last = self.abs(r.last_seen);
            let Some((mut v, size)) = self.shape(i, last, false) else {
                continue;
            };
            if size >= s.min_targets {
                v.is_final = true;
                sink(&v);
            }
        }
    }

    /// Forgets sources idle at `ts` and turns the filter over if its period
    /// passed. A reported source idle past its timeout has ended its episode:
    /// its final extent goes to `sink` then, even while its reporting history
    /// is kept for the suppression period.
    pub(crate) fn advance(&mut self, s: &Settings, ts: Timestamp, sink: &mut dyn FnMut(&Verdict)) {
        if self.epoch.is_none() {
            return;
        }
        let now = self.clock(ts, s);
        for i in 0..self.table.capacity() {
            let r = self.table.get(i);
            if !r.occupied() || !r.idle(now, s.timeouts) {
                continue;
            }
            self.close(s, i, sink);
            if !self.suppressing(&r, now, s) {
                self.clear(i);
                self.c.live -= 1;
                self.c.expired += 1;
            } else {
                // Its episode is over; only the reporting history stays.
                self.forget_evidence(i);
            }
        }
    }

    pub(crate) fn add_stats(&self, st: &mut Stats) {
        let c = &self.c;
        st.events += c.events;
        st.ignored += c.ignored;
        st.allowed += c.allowed;
        st.unsolicited += c.unsolicited;
        st.duplicates += c.duplicates;
        st.sources += c.live;
        st.capacity += self.table.capacity() as u64;
        st.evicted += c.evicted;
        st.expired += c.expired;
        st.with_evidence += self.pool.in_use() as u64;
        st.evidence_denied += c.evidence_denied;
        st.verdicts += c.verdicts;
        st.memory_bytes += self.table.bytes() + self.filter.bytes() + self.pool.bytes();
        st.filter_rotations += self.filter.rotations;
        st.turned_away += c.turned_away;
        st.collisions += c.collisions;
    }
}

mod saved;
pub(crate) use saved::ShardHead;

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn small_shards_give_the_filter_a_quarter_up_to_its_minimum() {
        for (bytes, filter) in [
            (128u64 << 10, 32u64 << 10),
            (256 << 10, 64 << 10),
            (512 << 10, 64 << 10),
            (1 << 20, 128 << 10),
            (8 << 20, 1 << 20),
        ] {
            let shard = Shard::with_bytes(bytes);
            assert_eq!(shard.filter.bytes(), filter, "{bytes}");
            let total = shard.table.bytes() + shard.filter.bytes() + shard.pool.bytes();
            assert!(total <= bytes, "{bytes}: {total}");
            assert!(
                total * 100 >= bytes * 99,
                "{bytes}: {total} leaves budget unused"
            );
        }
    }

    #[test]
    fn the_default_budget_gives_each_shard_the_documented_pool() {
        // The README and the configuration docs state these figures.
        let c = Config::default();
        let shard = Shard::with_bytes(c.memory_bytes / u64::from(c.shards));
        assert_eq!(shard.pool.pages(), 2_461);
        assert_eq!(shard.pool.port_maps(), 9);
        let big = Shard::with_bytes(1 << 30);
        assert_eq!(big.pool.pages(), crate::evidence_pool::MAX_PAGES);
        assert_eq!(crate::evidence_pool::MAX_PAGES, 131_071);
    }

    #[test]
    fn the_clock_follows_events_across_seconds_both_ways() {
        let s = Settings::compile(&Config::default()).unwrap();
        let mut shard = Shard::with_bytes(1 << 20);
        let t0 = Timestamp::from_secs(1_700_000_000).0;
        let now = shard.clock(Timestamp(t0), &s);
        assert_eq!(
            now, EPOCH_SLACK as u32,
            "the epoch leaves room for late events"
        );
        assert_eq!(shard.clock(Timestamp(t0 + 999_999), &s), now);
        assert_eq!(shard.clock(Timestamp(t0 + 1_000_000), &s), now + 1);
        assert_eq!(shard.clock(Timestamp(t0 - 1), &s), now - 1, "reordered");
        assert_eq!(shard.clock(Timestamp(t0 + 1_500_000), &s), now + 1);
        assert_eq!(shard.clock(Timestamp(0), &s), 0, "before the epoch");
        assert_eq!(shard.clock(Timestamp(u64::MAX), &s), u32::MAX, "saturates");
    }

    #[test]
    fn the_first_event_sets_the_epoch_whatever_its_time() {
        let s = Settings::compile(&Config::default()).unwrap();
        for ts in [0, 1, u64::MAX] {
            let mut shard = Shard::with_bytes(1 << 20);
            shard.clock(Timestamp(ts), &s);
            assert!(shard.epoch.is_some(), "{ts}");
        }
    }

    #[test]
    fn the_filter_turns_over_with_the_clock() {
        let s = Settings::compile(&Config::default()).unwrap();
        let mut shard = Shard::with_bytes(1 << 20);
        let t0 = Timestamp::from_secs(1_700_000_000).0;
        shard.clock(Timestamp(t0), &s);
        let period = u64::from(s.dedup) * 1_000_000;
        shard.clock(Timestamp(t0 + period - 1), &s);
        assert_eq!(shard.filter.rotations, 0);
        shard.clock(Timestamp(t0 + period), &s);
        assert_eq!(shard.filter.rotations, 1);
    }
}
