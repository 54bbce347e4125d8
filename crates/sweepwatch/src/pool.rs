//! A bounded pool of evidence records for the few sources that look
//! suspicious: their distinct targets and ports, counts, main ports, a
//! sample of failed targets and their reporting history. A source takes a
//! small record ([`Small`], 128 bytes) at its first failed first contact; its
//! evidence counts from there. One that probes more than a few targets or
//! ports, or is about to be reported, moves to a large record ([`Extra`],
//! 1 KiB), whose distinct counts are exact up to 64 and estimated above.
//! Both are exact while small, so that decisions near the thresholds and the
//! counts a verdict states never take a repeat for new.

use crate::distinct::Distinct;
use crate::event::Technique;
use crate::sketch::TopPorts;
use crate::small::Small;
use crate::table::{Table, Timeouts, HANDLE_LIMIT};
use crate::verdict::{Verdict, MAX_VERDICT_SAMPLE};
use crate::zeroed::{Zeroable, Zeroed};

/// Distinct target hosts: exact up to 64, then HyperLogLog with 512 registers.
pub(crate) type Hosts = Distinct<64>;
/// Distinct destination ports: exact up to 64, then HyperLogLog with 512 registers.
pub(crate) type Ports = Distinct<64>;
/// Distinct (target, port) pairs probed: exact up to 64, then HyperLogLog with
/// 512 registers. While exact they also keep repeats out of the evidence.
pub(crate) type Pairs = Distinct<64>;
/// Which of the pairs in [`Pairs`] (by their place there, while it is exact)
/// had their outcome counted: keeps retries of them out of the walk and the
/// counts for the source's first 64 pairs, however far apart in time; above,
/// the first-contact filter alone does (one dedup period).
pub(crate) type Resolved = u64;

/// The evidence against one suspicious source, for one protocol: a verdict
/// describes the probes of one protocol only.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Extra {
    /// The source address as 128 bits (IPv4 mapped).
    pub key: u128,
    /// Distinct target hosts.
    pub hosts: Hosts,
    /// Distinct destination ports.
    pub ports: Ports,
    /// Distinct (target, port) pairs probed.
    pub probes: Pairs,
    /// Which pairs of `probes` had their outcome counted, bit `i` for the
    /// `i`th pair added.
    pub resolved: Resolved,
    /// Index of the owning record in the table.
    pub owner: u32,
    pub refused: u32,
    pub unanswered: u32,
    pub succeeded: u32,
    /// Probes to targets in the home networks, and to targets outside them.
    pub to_home: u32,
    pub to_away: u32,
    /// When the last verdict about the source was delivered (shard seconds).
    pub last_report: u32,
    /// The size that verdict gave.
    pub last_targets: u32,
    /// Probes by technique ([`Technique::index`]).
    pub techniques: [u16; Technique::ALL.len()],
    pub top: TopPorts,
    /// One bit per verdict kind already reported this suppression period.
    pub reported: u8,
    pub n_sample: u8,
    /// The protocol of the probes ([`Protocol::index`]).
    pub proto: u8,
    /// Whether the source was at home at its latest probe.
    pub src_home: bool,
    /// A verdict was delivered in this episode and its final extent not yet.
    pub extent_due: bool,
    /// The largest counts delivered in this episode, below which no later
    /// verdict's estimates may fall.
    pub shown: Shown,
    /// Destination ports counted in the port map (while it has one).
    pub map_ports: u32,
    /// Index + 1 of the pool's exact port map holding the ports, once
    /// there were more than the counter holds exactly; 0 if none.
    pub port_map: u16,
    /// The first-contact filter's generations retired when this evidence
    /// was taken (its low 32 bits): while none has been since, every outcome
    /// counted was of a distinct pair.
    pub since: u32,
    /// The latest distinct failed targets, newest first.
    pub sample: [u128; MAX_VERDICT_SAMPLE],
}

/// Counts a source's verdicts have stated in its current episode: its
/// evidence only grows, so no later verdict states less, whatever an
/// estimate does as it takes more items.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Shown {
    pub hosts: u32,
    pub ports: u32,
    pub probes: u32,
    pub failed: u32,
    pub succeeded: u32,
}

impl Shown {
    /// The counts `v` states.
    pub(crate) fn of(v: &Verdict) -> Shown {
        Shown {
            hosts: v.targets,
            ports: v.ports_count,
            probes: v.probes,
            failed: v.failed,
            succeeded: v.succeeded,
        }
    }
}

impl Extra {
    /// Empties the record for source `key`'s probes of protocol `proto`,
    /// owned by table record `owner`. Writes only what an empty record reads:
    /// the counters' headers, not the kilobyte of items and registers behind
    /// them, which taking an entry would otherwise rewrite each time.
    pub(crate) fn start(&mut self, owner: u32, key: u128, proto: u8) {
        self.keep_reports(owner, key, proto, 0, 0, 0);
    }

    /// Empties the record as [`start`](Self::start) does, keeping a
    /// reporting history: kinds `reported`, when (`last_report`) and at what
    /// size (`last_targets`).
    pub(crate) fn keep_reports(
        &mut self,
        owner: u32,
        key: u128,
        proto: u8,
        reported: u8,
        last_report: u32,
        last_targets: u32,
    ) {
        self.key = key;
        self.hosts.clear();
        self.ports.clear();
        self.probes.clear();
        self.resolved = 0;
        self.owner = owner;
        self.refused = 0;
        self.unanswered = 0;
        self.succeeded = 0;
        self.to_home = 0;
        self.to_away = 0;
        self.last_report = last_report;
        self.last_targets = last_targets;
        self.techniques = [0; Technique::ALL.len()];
        self.top = TopPorts::default();
        self.reported = reported;
        self.n_sample = 0;
        self.proto = proto;
        self.src_home = false;
        self.extent_due = false;
        self.shown = Shown::default();
        self.port_map = 0;
        self.map_ports = 0;
    }

    /// Puts `target` first among the most recent distinct failed targets, so a
    /// verdict's sample shows what the source was doing when it was decided.
    #[inline]
    pub(crate) fn add_sample(&mut self, target: u128) {
        let n = usize::from(self.n_sample);
        let end = match self.sample[..n].iter().position(|t| *t == target) {
            Some(i) => i,
            None if n < MAX_VERDICT_SAMPLE => {
                self.n_sample += 1;
                n
            }
            None => MAX_VERDICT_SAMPLE - 1,
        };
        self.sample.copy_within(..end, 1);
        self.sample[0] = target;
    }

    /// The technique most probes used (the earlier one among equals).
    pub(crate) fn technique(&self) -> Technique {
        let mut best = 0;
        for (i, n) in self.techniques.iter().enumerate() {
            if *n > self.techniques[best] {
                best = i;
            }
        }
        Technique::ALL[best]
    }
}

// SAFETY: integers only.
unsafe impl Zeroable for Extra {}

/// Small records a page holds: a page is one large record's size.
const SLOTS: usize = 8;

/// Pages a pool may hold (128 MiB): the table stores a record's handle,
/// `page * 8 + slot + 1`, in 20 bits.
pub(crate) const MAX_PAGES: usize = (HANDLE_LIMIT as usize - 1) / SLOTS;

/// Pages for each exact port map: the pool keeps one map (8 KiB) for every
/// 256 pages, at least one, for the few sources that probe more ports than a
/// large record counts exactly.
const PAGES_PER_MAP: u64 = 256;

/// Every destination port, a bit each: 8 KiB.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct PortMap([u64; 1024]);

// SAFETY: integers only; zero is an empty map.
unsafe impl Zeroable for PortMap {}

impl PortMap {
    /// Adds `port`; true if it was not there.
    #[inline]
    pub(crate) fn insert(&mut self, port: u16) -> bool {
        let (w, b) = (usize::from(port / 64), port % 64);
        let new = self.0[w] & (1 << b) == 0;
        self.0[w] |= 1 << b;
        new
    }

    /// Whether `port` was added.
    #[cfg(test)]
    pub(crate) fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port / 64)] & (1 << (port % 64)) != 0
    }
}

/// How many records the clock hands inspect before giving up on a steal.
const STEAL_SCAN: usize = 16;

/// A kilobyte of the pool: one large record, or eight small ones. Which one
/// a page holds is in its [`Meta`]; a page that changes kind is written
/// whole, so each field read was written as what it is read as.
#[derive(Clone, Copy)]
#[repr(C)]
union Page {
    small: [Small; SLOTS],
    large: Extra,
}

const _: () = assert!(std::mem::size_of::<Page>() == std::mem::size_of::<Extra>());
const _: () = assert!(std::mem::size_of::<[Small; SLOTS]>() == std::mem::size_of::<Extra>());

// SAFETY: integers only; all zero is a valid value of either field.
unsafe impl Zeroable for Page {}

/// What a page holds, and the free lists it is on.
#[derive(Clone, Copy, Debug, Default)]
struct Meta {
    /// Holds a large record.
    large: bool,
    /// Small records in use, a bit a slot (none and not large: free).
    used: u8,
    /// On the list of pages with a free slot.
    partial: bool,
}

/// The evidence pool: pages of 1 KiB that each hold one large record or
/// eight small ones, so the split between the two follows the traffic. A
/// source's table record holds the handle of its small or large record.
pub(crate) struct Pool {
    pages: Zeroed<Page>,
    meta: Vec<Meta>,
    /// Free pages (every one of them, each once).
    free: Vec<u32>,
    /// Small pages that had a free slot when listed (each at most once).
    partial: Vec<u32>,
    /// Clock hands over the slots (small steals) and the pages (large ones).
    hand_slot: usize,
    hand_page: usize,
    in_use: usize,
    maps: Zeroed<PortMap>,
    /// Free port maps, by index.
    free_maps: Vec<u16>,
}

/// A vector of capacity `n`, which the pool's lists never exceed, so they
/// never reallocate.
fn with_capacity<T>(n: usize) -> Result<Vec<T>, crate::Error> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| crate::Error::NoMemory {
        bytes: (n * std::mem::size_of::<T>()) as u64,
    })?;
    Ok(v)
}

/// The page and slot of a handle.
#[inline]
fn split(handle: u32) -> (usize, usize) {
    let i = handle as usize - 1;
    (i / SLOTS, i % SLOTS)
}

/// The handle of a page's slot.
#[inline]
fn handle(page: usize, slot: usize) -> u32 {
    (page * SLOTS + slot + 1) as u32
}

impl Pool {
    /// A pool of as many pages as fit in `bytes` (at least one).
    ///
    /// # Errors
    /// [`Error::NoMemory`](crate::Error::NoMemory) if the memory cannot be had.
    pub(crate) fn with_bytes(bytes: u64) -> Result<Pool, crate::Error> {
        // Each page costs itself, its meta and its places on the two lists.
        let each = (std::mem::size_of::<Page>() + std::mem::size_of::<Meta>() + 8) as u64;
        let map_each = (std::mem::size_of::<PortMap>() + 2) as u64;
        let n_maps = (bytes / (PAGES_PER_MAP * each + map_each)).max(1) as usize;
        let rest = bytes.saturating_sub(n_maps as u64 * map_each);
        let n = ((rest / each) as usize).clamp(1, MAX_PAGES);
        let mut free_maps = with_capacity(n_maps)?;
        free_maps.extend((0..n_maps as u16).rev());
        let mut meta = with_capacity(n)?;
        meta.resize(n, Meta::default());
        let mut free = with_capacity(n)?;
        free.extend((0..n as u32).rev());
        Ok(Pool {
            pages: Zeroed::new(n)?,
            meta,
            free,
            partial: with_capacity(n)?,
            hand_slot: 0,
            hand_page: 0,
            in_use: 0,
            maps: Zeroed::new(n_maps)?,
            free_maps,
        })
    }

    pub(crate) fn bytes(&self) -> u64 {
        (self.pages.len() * std::mem::size_of::<Page>()
            + self.meta.capacity() * std::mem::size_of::<Meta>()
            + (self.free.capacity() + self.partial.capacity()) * 4
            + self.maps.len() * std::mem::size_of::<PortMap>()
            + self.free_maps.capacity() * 2) as u64
    }

    /// An empty port map: its handle (index + 1), or None if all are taken.
    pub(crate) fn take_map(&mut self) -> Option<u16> {
        let i = self.free_maps.pop()?;
        self.maps[usize::from(i)] = PortMap([0; 1024]);
        Some(i + 1)
    }

    /// The port map of handle `m`.
    #[inline]
    pub(crate) fn map_mut(&mut self, m: u16) -> &mut PortMap {
        &mut self.maps[usize::from(m) - 1]
    }

    /// Returns the port map of the large record `handle`, if it has one.
    pub(crate) fn release_map(&mut self, handle: u32) {
        if let Some(e) = self.large_mut(handle) {
            let m = std::mem::take(&mut e.port_map);
            e.map_ports = 0;
            if m != 0 {
                self.free_maps.push(m - 1);
            }
        }
    }

    /// Pages of 1 KiB in the pool.
    #[cfg(test)]
    pub(crate) fn pages(&self) -> usize {
        self.pages.len()
    }

    /// Exact port maps in the pool.
    #[cfg(test)]
    pub(crate) fn port_maps(&self) -> usize {
        self.maps.len()
    }

    /// Sources holding evidence.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use
    }

    /// The small record of `handle`, if that is what it names.
    #[inline]
    pub(crate) fn small(&self, handle: u32) -> Option<&Small> {
        let (p, i) = split(handle);
        let m = self.meta[p];
        // SAFETY: the page holds small records (`used` is only set on them).
        (!m.large && m.used & (1 << i) != 0).then(|| unsafe { &self.pages[p].small[i] })
    }

    /// [`small`](Self::small), to change.
    #[inline]
    pub(crate) fn small_mut(&mut self, handle: u32) -> Option<&mut Small> {
        let (p, i) = split(handle);
        let m = self.meta[p];
        // SAFETY: as in `small`.
        (!m.large && m.used & (1 << i) != 0).then(|| unsafe { &mut self.pages[p].small[i] })
    }

    /// The large record of `handle`, if that is what it names.
    #[inline]
    pub(crate) fn large(&self, handle: u32) -> Option<&Extra> {
        let (p, i) = split(handle);
        // SAFETY: the page holds a large record.
        (self.meta[p].large && i == 0).then(|| unsafe { &self.pages[p].large })
    }

    /// [`large`](Self::large), to change.
    #[inline]
    pub(crate) fn large_mut(&mut self, handle: u32) -> Option<&mut Extra> {
        let (p, i) = split(handle);
        // SAFETY: as in `large`.
        (self.meta[p].large && i == 0).then(|| unsafe { &mut self.pages[p].large })
    }

    /// True if `handle` holds the evidence of source `key`'s probes of
    /// protocol `proto`.
    #[inline]
    pub(crate) fn is_of(&self, handle: u32, key: u128, proto: u8) -> bool {
        match self.large(handle) {
            Some(e) => e.key == key && e.proto == proto,
            None => self.small(handle).is_some_and(|e| e.is_of(key, proto)),
        }
    }

    /// Whether the source of `handle` was reported in its episode or
    /// suppression period (only large records are).
    #[inline]
    pub(crate) fn reported(&self, handle: u32) -> bool {
        handle != 0 && self.large(handle).is_some_and(|e| e.reported != 0)
    }

    /// The table record that owns `handle`'s record.
    fn owner(&self, handle: u32) -> usize {
        match self.large(handle) {
            Some(e) => e.owner as usize,
            None => self.small(handle).map_or(0, |e| e.owner as usize),
        }
    }

    /// Returns a record to the pool.
    #[inline]
    pub(crate) fn release(&mut self, handle: u32) {
        if handle == 0 {
            return;
        }
        self.release_map(handle);
        let (p, i) = split(handle);
        let m = &mut self.meta[p];
        if m.large {
            m.large = false;
        } else if m.used & (1 << i) != 0 {
            m.used &= !(1 << i);
            if m.used != 0 {
                if !m.partial {
                    m.partial = true;
                    self.partial.push(p as u32);
                }
                self.in_use -= 1;
                return;
            }
        } else {
            return;
        }
        self.in_use -= 1;
        self.free.push(p as u32);
    }

    /// A free small slot from the lists, if any.
    fn free_slot(&mut self) -> Option<u32> {
        while let Some(&p) = self.partial.last() {
            let p = p as usize;
            let m = &mut self.meta[p];
            if m.large || m.used == 0 || m.used == u8::MAX {
                // Listed when it had room; since filled, freed or turned large.
                m.partial = false;
                self.partial.pop();
                continue;
            }
            let i = m.used.trailing_ones() as usize;
            m.used |= 1 << i;
            return Some(handle(p, i));
        }
        let p = self.free.pop()? as usize;
        self.pages[p].small = [Small::default(); SLOTS];
        let m = &mut self.meta[p];
        m.used = 1;
        if !m.partial {
            m.partial = true;
            self.partial.push(p as u32);
        }
        Some(handle(p, 0))
    }

    /// What keeping `handle`'s record is worth to its source, if a newcomer
    /// whose walk stands at `llr` may take it: `i32::MIN` if the source is
    /// idle, its walk if it is unreported and looks no more suspicious; None
    /// if it must keep it.
    fn cost(&self, handle: u32, llr: i16, table: &Table, now: u32, t: Timeouts) -> Option<i32> {
        let victim = table.get(self.owner(handle));
        if victim.idle(now, t) {
            Some(i32::MIN)
        } else if !self.reported(handle) && victim.llr <= llr {
            Some(i32::from(victim.llr))
        } else {
            None
        }
    }

    /// Takes `handle`'s record from its source, which loses its evidence.
    fn evict(&mut self, handle: u32, table: &mut Table) {
        table.set_extra(self.owner(handle), 0);
        self.release(handle);
    }

    /// A cleared small record for source `key`, whose record is at `owner`:
    /// a free one, else one taken from an idle source or an unreported one
    /// that looks no more suspicious than `llr` (which loses its evidence):
    /// among equals the clock hand takes the longest held.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn acquire(
        &mut self,
        owner: usize,
        key: u128,
        proto: u8,
        llr: i16,
        table: &mut Table,
        now: u32,
        t: Timeouts,
    ) -> Option<u32> {
        let h = self.slot_for(llr, table, now, t, [usize::MAX; 2])?;
        self.in_use += 1;
        self.small_mut(h)?.start(owner as u32, key, proto);
        Some(h)
    }

    /// A small slot (taken, its record not yet written) for a source whose
    /// walk stands at `llr`: a free one, else the cheapest of the records
    /// the clock hand passes, taken from its source; never on the pages
    /// `skip`.
    fn slot_for(
        &mut self,
        llr: i16,
        table: &mut Table,
        now: u32,
        t: Timeouts,
        skip: [usize; 2],
    ) -> Option<u32> {
        if let Some(h) = self.free_slot() {
            return Some(h);
        }
        let n = self.pages.len() * SLOTS;
        // The cheapest of the records the hand passes, so that a source
        // whose answers pulled its walk down loses its evidence before one
        // whose failures only add up slowly.
        let mut found: Option<(i32, u32)> = None;
        for _ in 0..STEAL_SCAN.min(n) {
            let (p, i) = (self.hand_slot / SLOTS, self.hand_slot % SLOTS);
            let m = self.meta[p];
            // A large page is one record: the hand passes it whole.
            self.hand_slot = match m.large {
                true => (p + 1) * SLOTS % n,
                false => (self.hand_slot + 1) % n,
            };
            if skip.contains(&p) || (!m.large && m.used & (1 << i) == 0) {
                continue;
            }
            let h = handle(p, if m.large { 0 } else { i });
            if let Some(c) = self.cost(h, llr, table, now, t) {
                if found.map_or(true, |(best, _)| c < best) {
                    found = Some((c, h));
                }
                if c == i32::MIN {
                    break;
                }
            }
        }
        self.evict(found?.1, table);
        self.free_slot()
    }

    /// Empties small page `p` for a large record: each of its records
    /// moves to another slot if it can, taking it (as a new record would)
    /// from a source less suspicious than its own; only those that find
    /// none lose their evidence. `own` is the page of the record being
    /// promoted, whose record must stay where it is.
    fn clear_page(&mut self, p: usize, own: usize, table: &mut Table, now: u32, t: Timeouts) {
        // SAFETY: the page holds small records (the caller checked `large`).
        let records = unsafe { self.pages[p].small };
        let used = self.meta[p].used;
        for i in (0..SLOTS).filter(|i| used & (1 << i) != 0) {
            self.evict(handle(p, i), table);
        }
        // Free now and listed last: take it off, and keep the moves away.
        if let Some(at) = self.free.iter().rposition(|f| *f as usize == p) {
            self.free.swap_remove(at);
        }
        self.meta[p].large = true;
        self.pages[p].large = Extra::default();
        for (i, r) in records.iter().enumerate() {
            if used & (1 << i) == 0 {
                continue;
            }
            let llr = table.get(r.owner as usize).llr;
            let Some(h) = self.slot_for(llr, table, now, t, [p, own]) else {
                continue;
            };
            self.in_use += 1;
            if let Some(e) = self.small_mut(h) {
                *e = *r;
            }
            table.set_extra(r.owner as usize, h);
        }
    }

    /// Moves the source of small record `handle` to a large record: a free
    /// page, else one taken from an idle source, an unreported one that
    /// looks no more suspicious than `llr`, or a page of small records all
    /// of whose sources are such (they move elsewhere where they can:
    /// [`clear_page`](Self::clear_page)). Returns the new handle, of a large record started empty
    /// for the caller to fill, and releases the small one; None (nothing
    /// changed) if no page could be had.
    pub(crate) fn promote(
        &mut self,
        handle: u32,
        llr: i16,
        table: &mut Table,
        now: u32,
        t: Timeouts,
    ) -> Option<u32> {
        let (own, _) = split(handle);
        let (owner, key, proto) = {
            let e = self.small(handle)?;
            (e.owner, e.key, e.proto)
        };
        let page = match self.free.pop() {
            Some(p) => p as usize,
            None => {
                let n = self.pages.len();
                // The page whose dearest record is cheapest.
                let mut found: Option<(i32, usize)> = None;
                for _ in 0..STEAL_SCAN.min(n) {
                    let p = self.hand_page;
                    self.hand_page = (self.hand_page + 1) % n;
                    if p == own {
                        continue;
                    }
                    let m = self.meta[p];
                    let slots = if m.large { 1 } else { m.used };
                    let mut dearest = Some(i32::MIN);
                    for i in (0..SLOTS).filter(|i| slots & (1 << i) != 0) {
                        let c = self.cost(self::handle(p, i), llr, table, now, t);
                        dearest = dearest.zip(c).map(|(a, b)| a.max(b));
                    }
                    if let Some(c) = dearest {
                        if found.map_or(true, |(best, _)| c < best) {
                            found = Some((c, p));
                        }
                        if c == i32::MIN {
                            break;
                        }
                    }
                }
                let p = found?.1;
                if self.meta[p].large {
                    self.evict(self::handle(p, 0), table);
                    // Now free, and listed so: take it back off.
                    let at = self.free.iter().rposition(|f| *f as usize == p)?;
                    self.free.swap_remove(at);
                } else {
                    self.clear_page(p, own, table, now, t);
                }
                p
            }
        };
        self.release(handle);
        self.in_use += 1;
        self.meta[page].large = true;
        self.pages[page].large = Extra::default();
        let large = self::handle(page, 0);
        table.set_extra(owner as usize, large);
        // SAFETY: just written as a large record.
        let e = unsafe { &mut self.pages[page].large };
        e.start(owner, key, proto);
        Some(large)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Record;

    #[test]
    fn an_evidence_record_is_sixteen_cache_lines() {
        // The README and the configuration docs state this size.
        assert_eq!(std::mem::size_of::<Extra>(), 1024);
    }

    #[test]
    fn the_sample_keeps_the_latest_distinct_targets() {
        let mut e = Extra::default();
        for t in [1u128, 2, 3, 2, 4, 5, 5] {
            e.add_sample(t);
        }
        assert_eq!(e.n_sample, 4);
        assert_eq!(e.sample, [5, 4, 2, 3]);
    }

    const T: Timeouts = Timeouts {
        idle: 60,
        suspect: 600,
    };

    const PAGE: u64 = (std::mem::size_of::<Page>() + std::mem::size_of::<Meta>() + 8) as u64;
    /// A pool's one port map, with its place on the free list.
    const MAP: u64 = (std::mem::size_of::<PortMap>() + 2) as u64;

    /// A table of `n` fresh sources, source `i` with walk `llr[i]`.
    fn sources(llr: &[i16]) -> Table {
        let mut t = Table::with_bytes(64 * (llr.len() as u64).div_ceil(4)).unwrap();
        for (i, l) in llr.iter().enumerate() {
            t.set(i, Record::fresh(i as u32 + 1, 0));
            t.set_llr(i, *l);
        }
        t
    }

    /// Small records for sources 0 to `n` - 1, in order: their handles.
    fn take(pool: &mut Pool, t: &mut Table, n: usize) -> Vec<u32> {
        (0..n)
            .map(|i| {
                let h = pool.acquire(i, i as u128, 0, 0, t, 0, T).unwrap();
                t.set_extra(i, h);
                h
            })
            .collect()
    }

    #[test]
    fn a_page_holds_eight_small_records_or_one_large() {
        let mut pool = Pool::with_bytes(2 * PAGE + MAP).unwrap();
        assert_eq!(pool.pages.len(), 2);
        let mut t = sources(&[0; 17]);
        let held = take(&mut pool, &mut t, 16);
        for h in &held {
            assert!(pool.small(*h).is_some() && pool.large(*h).is_none());
        }
        assert_eq!(pool.in_use(), 16);
        // Full, and nobody is as benign as a walk at -1.
        assert!(pool.acquire(16, 16, 0, -1, &mut t, 0, T).is_none());
        // Freeing one slot of each page leaves no free page: a promotion
        // must take a page from eight sources.
        pool.release(held[0]);
        t.set_extra(0, 0);
        pool.release(held[8]);
        t.set_extra(8, 0);
        assert!(pool.promote(held[1], -1, &mut t, 0, T).is_none());
        assert!(
            pool.small(held[1]).is_some(),
            "a failed promotion changes nothing"
        );
        // Emptying the second page frees it whole.
        for (i, h) in held.iter().enumerate().skip(9) {
            pool.release(*h);
            t.set_extra(i, 0);
        }
        let large = pool.promote(held[1], 0, &mut t, 0, T).unwrap();
        assert_eq!(t.get(1).extra, large, "the source follows its record");
        assert!(pool.small(held[1]).is_none());
        let e = pool.large(large).unwrap();
        assert_eq!((e.owner, e.key), (1, 1));
        assert!(pool.is_of(large, 1, 0) && !pool.is_of(large, 2, 0));
        assert_eq!(pool.in_use(), 7);
    }

    #[test]
    fn a_page_taken_for_a_large_record_moves_its_records_to_cheaper_places() {
        let mut pool = Pool::with_bytes(3 * PAGE + MAP).unwrap();
        // Page 0: the source moving up (0) and seven others; page 1: eight
        // sources at 100; page 2: one at -500 and seven at 900.
        let mut walks = vec![0; 8];
        walks.extend([100; 8]);
        walks.push(-500);
        walks.extend([900; 7]);
        let mut t = sources(&walks);
        let held = take(&mut pool, &mut t, 24);
        let large = pool.promote(held[0], 500, &mut t, 0, T).unwrap();
        assert_eq!(
            split(large).0,
            1,
            "page 1 is the one all of whose sources may give way"
        );
        // One of page 1's sources took the place of the source at -500; the
        // others found no one cheaper and lost their evidence.
        assert_eq!(t.get(16).extra, 0);
        let kept: Vec<usize> = (8..16).filter(|&i| t.get(i).extra != 0).collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        let h = t.get(kept[0]).extra;
        assert_eq!(split(h).0, 2);
        let moved = pool.small(h).unwrap();
        assert_eq!(
            (moved.owner as usize, moved.key),
            (kept[0], kept[0] as u128)
        );
        // 24 sources: page 1's eight left it, one found a place (whose
        // source lost it), and source 0 holds a large record instead.
        assert_eq!(pool.in_use(), 24 - 8 + 1 - 1);
    }

    #[test]
    fn a_port_map_goes_back_with_its_record() {
        let mut pool = Pool::with_bytes(2 * PAGE + MAP).unwrap();
        assert_eq!(
            (pool.maps.len(), pool.pages.len()),
            (1, 2),
            "at least one map"
        );
        let mut t = sources(&[0; 2]);
        let h = pool.acquire(0, 0, 0, 0, &mut t, 0, T).unwrap();
        t.set_extra(0, h);
        let large = pool.promote(h, 0, &mut t, 0, T).unwrap();
        let m = pool.take_map().unwrap();
        assert!(pool.take_map().is_none(), "the only map is taken");
        assert!(pool.map_mut(m).insert(4242));
        assert!(!pool.map_mut(m).insert(4242));
        pool.large_mut(large).unwrap().port_map = m;
        pool.release(large);
        let again = pool.take_map().unwrap();
        assert!(
            !pool.map_mut(again).contains(4242),
            "a map comes back empty"
        );
    }

    #[test]
    fn a_steal_takes_the_least_suspicious_record() {
        let mut pool = Pool::with_bytes(PAGE + MAP).unwrap();
        let mut t = sources(&[800, 100, -300, 400, 500, 600, 700, 900, 100]);
        take(&mut pool, &mut t, 8);
        // Source 8 at 100 may take from sources 1 (100) and 2 (-300): the
        // lower walk goes.
        let h = pool.acquire(8, 8, 0, 100, &mut t, 0, T).unwrap();
        assert_eq!(t.get(2).extra, 0, "the loser forgets its record");
        assert_eq!(pool.small(h).unwrap().owner, 8);
        t.set_extra(8, h);
        assert!(pool.small(t.get(1).extra).is_some());
    }

    #[test]
    fn a_promotion_takes_a_page_only_when_all_its_sources_may_lose() {
        let mut pool = Pool::with_bytes(2 * PAGE + MAP).unwrap();
        // Page 0: sources 0 to 7; page 1: sources 8 to 15, one of them
        // (15) more suspicious than the newcomer at 500.
        let mut walks = vec![100; 16];
        walks[15] = 900;
        let mut t = sources(&walks);
        let held = take(&mut pool, &mut t, 16);
        // Source 0 moves up: page 1 has a dearer source, so all of page 0
        // but source 0 itself would be taken; its own page is never taken.
        assert!(pool.promote(held[0], 500, &mut t, 0, T).is_none());
        walks[15] = 100;
        t.set_llr(15, 100);
        let large = pool.promote(held[0], 500, &mut t, 0, T).unwrap();
        for i in 8..16 {
            assert_eq!(t.get(i).extra, 0, "source {i} lost its record");
        }
        assert_eq!(t.get(0).extra, large);
        // A reported large record is kept from anyone.
        pool.large_mut(large).unwrap().reported = 1;
        assert!(pool.reported(large));
    }
}
