//! One partition of the sources: its table, pool and first-contact filter, and
//! the decisions made on them. Knows nothing of locks or threads.

use crate::config::Settings;
use crate::event::{Outcome, Protocol, Timestamp};
use crate::net::key_addr;
use crate::pairs::PairFilter;
use crate::pool::{Extra, Pool};
use crate::sketch::{bit_of, dimensions};
use crate::stats::Stats;
use crate::table::{tag_of, Record, Slot, Table};
use crate::verdict::{Direction, Kind, Verdict, MAX_VERDICT_SAMPLE};

/// One event as the shards read it: addresses as 128-bit keys and the hashes
/// that place them, computed once outside the shard's lock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub ts: Timestamp,
    pub src: u128,
    pub dst: u128,
    pub dst_port: u16,
    pub proto: Protocol,
    pub outcome: Outcome,
    pub h_src: u64,
    pub h_dst: u64,
    pub pair: u64,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            ts: Timestamp(0),
            src: 0,
            dst: 0,
            dst_port: 0,
            proto: Protocol::Other,
            outcome: Outcome::Unsolicited,
            h_src: 0,
            h_dst: 0,
            pair: 0,
        }
    }
}

#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
fn port_bit(port: u16) -> u64 {
    bit_of(u64::from(port).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Share of each shard's memory: table 11/16, filter 4/16, pool 1/16.
const TABLE_SIXTEENTHS: u64 = 11;
const FILTER_SIXTEENTHS: u64 = 4;
const POOL_SIXTEENTHS: u64 = 1;

/// Seconds before the first event that later, reordered events may carry.
const EPOCH_SLACK: u64 = 3600;

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    events: u64,
    ignored: u64,
    allowed: u64,
    unsolicited: u64,
    duplicates: u64,
    live: u64,
    evicted: u64,
    expired: u64,
    heavy_denied: u64,
    verdicts: u64,
}

pub(crate) struct Shard {
    table: Table,
    filter: PairFilter,
    pool: Pool,
    epoch: Option<u64>,
    c: Counters,
}

impl Shard {
    pub(crate) fn with_bytes(bytes: u64) -> Shard {
        Shard {
            table: Table::with_bytes(bytes / 16 * TABLE_SIXTEENTHS),
            filter: PairFilter::with_bytes(bytes / 16 * FILTER_SIXTEENTHS),
            pool: Pool::with_bytes(bytes / 16 * POOL_SIXTEENTHS),
            epoch: None,
            c: Counters::default(),
        }
    }

    /// Seconds since the shard's epoch, fixing the epoch at the first event.
    #[inline]
    fn rel(&mut self, ts: Timestamp) -> u32 {
        let s = ts.as_secs();
        let epoch = match self.epoch {
            Some(e) => e,
            None => {
                let e = s.saturating_sub(EPOCH_SLACK);
                self.epoch = Some(e);
                self.filter.start((s - e) as u32);
                e
            }
        };
        s.saturating_sub(epoch).min(u64::from(u32::MAX)) as u32
    }

    fn abs(&self, rel: u32) -> Timestamp {
        Timestamp::from_secs(self.epoch.unwrap_or(0) + u64::from(rel))
    }

    /// First prefetch stage of the batch path: the bucket's tags and the
    /// filter's block.
    #[inline]
    pub(crate) fn prefetch_early(&self, hx: &Probe) {
        self.table.prefetch_tags(self.table.bucket_of(hx.h_src));
        self.filter.prefetch(hx.pair);
    }

    /// Second stage, once the tags are likely cached: the record itself.
    #[inline]
    pub(crate) fn prefetch_late(&self, hx: &Probe) {
        self.table
            .prefetch_record(self.table.bucket_of(hx.h_src), tag_of(hx.h_src));
    }

    /// Forgets the record at `slot`, returning its extra entry to the pool.
    fn clear(&mut self, slot: usize) {
        let r = self.table.get_mut(slot);
        let extra = r.extra;
        *r = Record::default();
        self.table.set_tag(slot, 0);
        self.pool.release(extra);
    }

    /// True while a reported source's suppression period runs: its reporting
    /// history must outlive its evidence, or a pause would repeat the verdict.
    fn suppressing(&self, r: &Record, now: u32, s: &Settings) -> bool {
        r.reported != 0
            && r.extra != 0
            && now.saturating_sub(self.pool.get(r.extra).last_report) < s.suppress
    }

    /// Starts a new episode for a source idle past its timeout: the old evidence
    /// has gone stale, but a recent verdict still suppresses repeats.
    fn restart(&mut self, slot: usize, now: u32, s: &Settings) {
        let old = *self.table.get(slot);
        let mut fresh = Record::fresh(old.key, now);
        if self.suppressing(&old, now, s) {
            let e = self.pool.get_mut(old.extra);
            *e = Extra {
                owner: slot as u32,
                last_report: e.last_report,
                last_targets: e.last_targets,
                ..Extra::default()
            };
            fresh.extra = old.extra;
            fresh.reported = old.reported;
        } else {
            self.pool.release(old.extra);
        }
        *self.table.get_mut(slot) = fresh;
    }

    pub(crate) fn observe(&mut self, s: &Settings, hx: &Probe, sink: &mut dyn FnMut(&Verdict)) {
        self.c.events += 1;
        if hx.outcome == Outcome::Unsolicited {
            self.c.unsolicited += 1;
            return;
        }
        if (s.any_ignore_port && s.ignore_ports[usize::from(hx.dst_port)])
            || s.ignore_nets.contains_key(hx.dst)
        {
            self.c.ignored += 1;
            return;
        }
        if s.allowed(hx.src, hx.dst_port) {
            self.c.allowed += 1;
            return;
        }
        let now = self.rel(hx.ts);
        self.filter.maybe_rotate(now, s.dedup);

        let bucket = self.table.bucket_of(hx.h_src);
        let tag = tag_of(hx.h_src);
        let slot = match self.table.locate(hx.src, tag, bucket, now, s.idle_timeout) {
            Slot::Found(i) => {
                if self.table.get(i).idle(now, s.idle_timeout) {
                    self.restart(i, now, s);
                }
                i
            }
            Slot::Vacant(i) => {
                let old = self.table.get(i);
                if !old.occupied() {
                    self.c.live += 1;
                } else if old.idle(now, s.idle_timeout) {
                    self.c.expired += 1;
                } else {
                    self.c.evicted += 1;
                }
                self.clear(i);
                *self.table.get_mut(i) = Record::fresh(hx.src, now);
                self.table.set_tag(i, tag);
                i
            }
        };

        let marked = self.filter.mark(hx.pair, hx.outcome != Outcome::Attempt);
        let w = s.walk;
        let r = self.table.get_mut(slot);
        r.last_seen = r.last_seen.max(now);
        if marked.new_probe || marked.new_outcome {
            // An outcome whose attempt fell in an earlier episode is new here.
            r.hosts |= bit_of(hx.h_dst);
            r.ports |= port_bit(hx.dst_port);
        }
        if marked.new_probe {
            r.probes = r.probes.saturating_add(1);
        }
        if hx.outcome == Outcome::Attempt {
            return;
        }
        if !marked.new_outcome {
            self.c.duplicates += 1;
            return;
        }
        let step = match hx.outcome {
            Outcome::Established => {
                r.succeeded = r.succeeded.saturating_add(1);
                w.success_step
            }
            Outcome::Refused => {
                r.refused = r.refused.saturating_add(1);
                w.fail_step
            }
            _ => {
                r.unanswered = r.unanswered.saturating_add(1);
                w.fail_step
            }
        };
        // Every counted outcome had a probe, even one counted before a restart.
        let outcomes = r
            .refused
            .saturating_add(r.unanswered)
            .saturating_add(r.succeeded);
        r.probes = r.probes.max(outcomes);
        let mut llr = r.llr.saturating_add(step);
        if llr <= w.lower {
            // Benign accepted: the test starts over (TRW restarts its walk).
            llr = 0;
        }
        llr = llr.min(w.upper);
        r.llr = llr;
        let mut extra = r.extra;

        if hx.outcome.is_failure() && extra == 0 && llr > 0 {
            match self
                .pool
                .acquire(slot, llr, self.table.records_mut(), now, s.idle_timeout)
            {
                Some(h) => {
                    self.table.get_mut(slot).extra = h;
                    extra = h;
                }
                None => self.c.heavy_denied += 1,
            }
        }
        if extra != 0 {
            let e = self.pool.get_mut(extra);
            e.top.add(hx.dst_port);
            if hx.outcome.is_failure() {
                e.add_sample(hx.dst);
            }
        }
        if llr >= w.upper {
            self.decide(s, slot, hx, now, sink);
        }
    }

    /// The scanner hypothesis holds for the source at `slot`: report it if its
    /// shape and size qualify and it has not been reported lately.
    fn decide(
        &mut self,
        s: &Settings,
        slot: usize,
        hx: &Probe,
        now: u32,
        sink: &mut dyn FnMut(&Verdict),
    ) {
        let r = *self.table.get(slot);
        let (hosts, ports) = dimensions(r.hosts, r.ports, r.probes);
        let direction = Direction::of(s.home.contains_key(hx.src), s.home.contains_key(hx.dst));
        let (kind, size) = if ports > hosts {
            (Kind::PortScan, ports)
        } else if direction == Direction::Outbound {
            (Kind::OutboundSweep, hosts)
        } else if hx.proto == Protocol::Icmp {
            (Kind::IcmpSweep, hosts)
        } else {
            (Kind::PortSweep, hosts)
        };
        if size < s.min_targets {
            return;
        }
        if r.reported & kind.bit() != 0 {
            if r.extra == 0 {
                return;
            }
            let e = self.pool.get(r.extra);
            let stale = now.saturating_sub(e.last_report) >= s.suppress;
            let grown = u64::from(size) >= 10 * u64::from(e.last_targets);
            if !(stale || grown) {
                return;
            }
        }
        self.table.get_mut(slot).reported |= kind.bit();

        let mut v = Verdict::empty();
        v.kind = kind;
        v.src = key_addr(hx.src);
        v.direction = direction;
        v.proto = hx.proto;
        v.targets = hosts;
        v.ports_count = ports;
        v.failed = r.refused.saturating_add(r.unanswered);
        v.succeeded = r.succeeded;
        v.unanswered = r.unanswered;
        v.probes = r.probes;
        v.first_seen = self.abs(r.first_seen);
        v.ts = hx.ts;
        v.score = f32::from(r.llr) / crate::config::WALK_SCALE as f32;
        if r.extra != 0 {
            let e = self.pool.get_mut(r.extra);
            e.last_report = now;
            e.last_targets = size;
            v.n_ports = e.top.sorted_into(&mut v.port_list);
            let n = usize::from(e.n_sample).min(MAX_VERDICT_SAMPLE);
            for (o, k) in v.sample_list.iter_mut().zip(&e.sample[..n]) {
                *o = key_addr(*k);
            }
            v.n_sample = n as u8;
        } else {
            v.port_list[0] = hx.dst_port;
            v.n_ports = 1;
            v.sample_list[0] = key_addr(hx.dst);
            v.n_sample = 1;
        }
        self.c.verdicts += 1;
        sink(&v);
    }

    /// Forgets sources idle at `ts` and turns the filter over if its period passed.
    pub(crate) fn advance(&mut self, s: &Settings, ts: Timestamp) {
        if self.epoch.is_none() {
            return;
        }
        let now = self.rel(ts);
        self.filter.maybe_rotate(now, s.dedup);
        for i in 0..self.table.capacity() {
            let r = *self.table.get(i);
            if r.occupied() && r.idle(now, s.idle_timeout) && !self.suppressing(&r, now, s) {
                self.clear(i);
                self.c.live -= 1;
                self.c.expired += 1;
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
        st.heavy += self.pool.in_use() as u64;
        st.heavy_denied += c.heavy_denied;
        st.verdicts += c.verdicts;
        st.memory_bytes += self.table.bytes() + self.filter.bytes() + self.pool.bytes();
        st.filter_rotations += self.filter.rotations;
    }
}
