//! The pool of evidence records: 1 KiB pages, each holding one large record
//! ([`Evidence`]) or eight small ones ([`SmallEvidence`]), so that the split
//! between the two follows the traffic; exact port maps for the few sources
//! that probe more ports than a large record counts exactly; and the clock
//! hand that picks which record gives way when the pool is full.

use crate::evidence::Evidence;
use crate::small_evidence::SmallEvidence;
use crate::table::{Table, Timeouts, HANDLE_LIMIT};
use crate::zeroed::Zeroed;
use std::num::NonZeroU32;

/// SmallEvidence records a page holds: a page is one large record's size.
const SLOTS: usize = 8;

/// Pages a pool may hold (128 MiB): the table stores a record's id,
/// `page * 8 + slot + 1`, in 20 bits.
pub(crate) const MAX_PAGES: usize = (HANDLE_LIMIT as usize - 1) / SLOTS;

/// Pages for each exact port map: the pool keeps one map (8 KiB) for every
/// 256 pages, at least one, for the few sources that probe more ports than a
/// large record counts exactly.
const PAGES_PER_MAP: u64 = 256;

/// Every destination port, a bit each: 8 KiB.
#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
pub(crate) struct PortMap([u64; 1024]);

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
#[derive(Clone, Copy, bytemuck::Zeroable)]
#[repr(C)]
union Page {
    small: [SmallEvidence; SLOTS],
    large: Evidence,
}

const _: () = assert!(std::mem::size_of::<Page>() == std::mem::size_of::<Evidence>());
// SAFETY: both views are Pod and fill the page exactly (asserted above and
// below), so the page has no padding and every bit pattern is a value of
// either view: reading a restored page as whichever kind its meta says is
// sound, whatever the file held.
unsafe impl bytemuck::Pod for Page {}
const _: () =
    assert!(std::mem::size_of::<[SmallEvidence; SLOTS]>() == std::mem::size_of::<Evidence>());

/// What a page holds, and the free lists it is on.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize)]
struct Meta {
    /// Holds a large record.
    large: bool,
    /// SmallEvidence records in use, a bit a slot (none and not large: free).
    used: u8,
    /// On the list of pages with a free slot.
    partial: bool,
}

/// A pool's state besides its pages and port maps: what each page holds, the
/// free lists and the clock hands.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct PoolLists {
    pages: u64,
    maps: u64,
    meta: Vec<Meta>,
    free: Vec<u32>,
    partial: Vec<u32>,
    hand_slot: u64,
    hand_page: u64,
    in_use: u64,
    free_maps: Vec<u16>,
}

/// Whether every one of `items` is below `n` and none is listed twice.
fn distinct_below(items: impl Iterator<Item = usize>, n: usize) -> bool {
    let mut seen = vec![false; n];
    for i in items {
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            _ => return false,
        }
    }
    true
}

/// The evidence pool: pages of 1 KiB that each hold one large record or
/// eight small ones, so the split between the two follows the traffic. A
/// source's table record holds the id of its small or large record.
pub(crate) struct EvidencePool {
    pages: Zeroed<Page>,
    meta: Vec<Meta>,
    /// Free pages (every one of them, each once).
    free: Vec<u32>,
    /// SmallEvidence pages that had a free slot when listed (each at most once).
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

/// Where a source's evidence record sits in the pool: `page * 8 + slot + 1`,
/// below [`HANDLE_LIMIT`], so that a table record stores it in 20 bits and
/// "no record" is `None` at no cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EvidenceId(NonZeroU32);

impl EvidenceId {
    /// The id of its stored bits; `None` for 0.
    #[inline(always)]
    pub(crate) fn from_bits(bits: u32) -> Option<EvidenceId> {
        NonZeroU32::new(bits).map(EvidenceId)
    }

    /// The bits a table record stores (never 0).
    #[inline(always)]
    pub(crate) fn bits(self) -> u32 {
        self.0.get()
    }
}

/// The bits a table record stores for an optional id: 0 for none.
#[inline(always)]
pub(crate) fn bits_of(id: Option<EvidenceId>) -> u32 {
    id.map_or(0, EvidenceId::bits)
}

/// The page and slot of an id.
#[inline]
fn split(id: EvidenceId) -> (usize, usize) {
    let i = id.bits() as usize - 1;
    (i / SLOTS, i % SLOTS)
}

/// The id of a page's slot.
#[inline]
fn id_of(page: usize, slot: usize) -> EvidenceId {
    EvidenceId(NonZeroU32::new((page * SLOTS + slot + 1) as u32).expect("ids start at 1"))
}

impl EvidencePool {
    /// A pool of as many pages as fit in `bytes` (at least one).
    ///
    /// # Errors
    /// [`Error::NoMemory`](crate::Error::NoMemory) if the memory cannot be had.
    pub(crate) fn with_bytes(bytes: u64) -> Result<EvidencePool, crate::Error> {
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
        Ok(EvidencePool {
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

    /// The pages and the port maps as bytes, to save.
    pub(crate) fn as_bytes(&self) -> [&[u8]; 2] {
        [
            bytemuck::cast_slice(&self.pages),
            bytemuck::cast_slice(&self.maps),
        ]
    }

    /// The pages and the port maps as bytes, to restore: any bytes are
    /// pages and maps, which [`set_lists`](Self::set_lists) then checks.
    pub(crate) fn as_bytes_mut(&mut self) -> [&mut [u8]; 2] {
        [
            bytemuck::cast_slice_mut(&mut self.pages),
            bytemuck::cast_slice_mut(&mut self.maps),
        ]
    }

    /// What the pool holds besides pages and maps, to save.
    pub(crate) fn lists(&self) -> PoolLists {
        PoolLists {
            pages: self.pages.len() as u64,
            maps: self.maps.len() as u64,
            meta: self.meta.clone(),
            free: self.free.clone(),
            partial: self.partial.clone(),
            hand_slot: self.hand_slot as u64,
            hand_page: self.hand_page as u64,
            in_use: self.in_use as u64,
            free_maps: self.free_maps.clone(),
        }
    }

    /// Takes the lists saved from a pool of the same size, once its pages
    /// and maps are restored, and checks that every list and every record
    /// in use stays within the pool, the maps and a table of `records`
    /// records: a state that passed its checksum yet breaks these was made
    /// by hand, and is refused rather than trusted.
    ///
    /// # Errors
    /// What is wrong with the lists or records.
    pub(crate) fn set_lists(&mut self, l: PoolLists, records: usize) -> Result<(), &'static str> {
        let (n, maps) = (self.pages.len(), self.maps.len());
        if l.pages != n as u64 || l.maps != maps as u64 || l.meta.len() != n {
            return Err("its evidence pool has another size");
        }
        let sound = distinct_below(l.free.iter().map(|&p| p as usize), n)
            && distinct_below(l.partial.iter().map(|&p| p as usize), n)
            && distinct_below(l.free_maps.iter().map(|&m| usize::from(m)), maps)
            && l.hand_slot < (n * SLOTS) as u64
            && l.hand_page < n as u64
            && l.in_use <= (n * SLOTS) as u64;
        if !sound {
            return Err("its evidence pool's lists are out of range");
        }
        for (page, m) in self.pages.iter().zip(&l.meta) {
            // SAFETY: a page is plain bytes under either view.
            let ok = if m.large {
                unsafe { page.large }.is_sound(records, maps)
            } else {
                let small = unsafe { &page.small };
                (0..SLOTS)
                    .filter(|i| m.used & (1 << i) != 0)
                    .all(|i| small[i].is_sound(records))
            };
            if !ok {
                return Err("an evidence record is out of range");
            }
        }
        self.meta.clear();
        self.meta.extend_from_slice(&l.meta);
        self.free.clear();
        self.free.extend_from_slice(&l.free);
        self.partial.clear();
        self.partial.extend_from_slice(&l.partial);
        self.free_maps.clear();
        self.free_maps.extend_from_slice(&l.free_maps);
        self.hand_slot = l.hand_slot as usize;
        self.hand_page = l.hand_page as usize;
        self.in_use = l.in_use as usize;
        Ok(())
    }

    /// Whether `id` names a slot of this pool.
    pub(crate) fn holds(&self, id: EvidenceId) -> bool {
        split(id).0 < self.pages.len()
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

    /// Returns the port map of the large record `id`, if it has one.
    pub(crate) fn release_map(&mut self, id: EvidenceId) {
        if let Some(e) = self.large_mut(id) {
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

    /// The small record of `id`, if that is what it names.
    #[inline]
    pub(crate) fn small(&self, id: EvidenceId) -> Option<&SmallEvidence> {
        let (p, i) = split(id);
        let m = self.meta[p];
        // SAFETY: the page holds small records (`used` is only set on them).
        (!m.large && m.used & (1 << i) != 0).then(|| unsafe { &self.pages[p].small[i] })
    }

    /// [`small`](Self::small), to change.
    #[inline]
    pub(crate) fn small_mut(&mut self, id: EvidenceId) -> Option<&mut SmallEvidence> {
        let (p, i) = split(id);
        let m = self.meta[p];
        // SAFETY: as in `small`.
        (!m.large && m.used & (1 << i) != 0).then(|| unsafe { &mut self.pages[p].small[i] })
    }

    /// The large record of `id`, if that is what it names.
    #[inline]
    pub(crate) fn large(&self, id: EvidenceId) -> Option<&Evidence> {
        let (p, i) = split(id);
        // SAFETY: the page holds a large record.
        (self.meta[p].large && i == 0).then(|| unsafe { &self.pages[p].large })
    }

    /// [`large`](Self::large), to change.
    #[inline]
    pub(crate) fn large_mut(&mut self, id: EvidenceId) -> Option<&mut Evidence> {
        let (p, i) = split(id);
        // SAFETY: as in `large`.
        (self.meta[p].large && i == 0).then(|| unsafe { &mut self.pages[p].large })
    }

    /// True if `id` holds the evidence of source `key`'s probes of
    /// protocol `proto`.
    #[inline]
    pub(crate) fn is_of(&self, id: EvidenceId, key: u128, proto: u8) -> bool {
        match self.large(id) {
            Some(e) => e.key == key && e.proto == proto,
            None => self.small(id).is_some_and(|e| e.is_of(key, proto)),
        }
    }

    /// Whether the source of `id` was reported in its episode or
    /// suppression period (only large records are).
    #[inline]
    pub(crate) fn reported(&self, id: Option<EvidenceId>) -> bool {
        id.is_some_and(|id| self.large(id).is_some_and(|e| e.reported != 0))
    }

    /// The table record that owns `id`'s record.
    fn owner(&self, id: EvidenceId) -> usize {
        match self.large(id) {
            Some(e) => e.owner as usize,
            None => self.small(id).map_or(0, |e| e.owner as usize),
        }
    }

    /// Returns a record to the pool.
    #[inline]
    pub(crate) fn release(&mut self, id: Option<EvidenceId>) {
        let Some(id) = id else {
            return;
        };
        self.release_map(id);
        let (p, i) = split(id);
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
    fn free_slot(&mut self) -> Option<EvidenceId> {
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
            return Some(id_of(p, i));
        }
        let p = self.free.pop()? as usize;
        self.pages[p].small = [SmallEvidence::default(); SLOTS];
        let m = &mut self.meta[p];
        m.used = 1;
        if !m.partial {
            m.partial = true;
            self.partial.push(p as u32);
        }
        Some(id_of(p, 0))
    }

    /// What keeping `id`'s record is worth to its source, if a newcomer
    /// whose walk stands at `llr` may take it: `i32::MIN` if the source is
    /// idle, its walk if it is unreported and looks no more suspicious; None
    /// if it must keep it.
    fn cost(&self, id: EvidenceId, llr: i16, table: &Table, now: u32, t: Timeouts) -> Option<i32> {
        let victim = table.get(self.owner(id));
        if victim.idle(now, t) {
            Some(i32::MIN)
        } else if !self.reported(Some(id)) && victim.llr <= llr {
            Some(i32::from(victim.llr))
        } else {
            None
        }
    }

    /// Takes `id`'s record from its source, which loses its evidence.
    fn evict(&mut self, id: EvidenceId, table: &mut Table) {
        table.set_evidence(self.owner(id), None);
        self.release(Some(id));
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
    ) -> Option<EvidenceId> {
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
    ) -> Option<EvidenceId> {
        if let Some(h) = self.free_slot() {
            return Some(h);
        }
        let n = self.pages.len() * SLOTS;
        // The cheapest of the records the hand passes, so that a source
        // whose answers pulled its walk down loses its evidence before one
        // whose failures only add up slowly.
        let mut found: Option<(i32, EvidenceId)> = None;
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
            let h = id_of(p, if m.large { 0 } else { i });
            if let Some(c) = self.cost(h, llr, table, now, t) {
                if found.is_none_or(|(best, _)| c < best) {
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
            self.evict(id_of(p, i), table);
        }
        // Free now and listed last: take it off, and keep the moves away.
        if let Some(at) = self.free.iter().rposition(|f| *f as usize == p) {
            self.free.swap_remove(at);
        }
        self.meta[p].large = true;
        self.pages[p].large = Evidence::default();
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
            table.set_evidence(r.owner as usize, Some(h));
        }
    }

    /// Moves the source of small record `id` to a large record: a free
    /// page, else one taken from an idle source, an unreported one that
    /// looks no more suspicious than `llr`, or a page of small records all
    /// of whose sources are such (they move elsewhere where they can:
    /// [`clear_page`](Self::clear_page)). Returns the new id, of a large record started empty
    /// for the caller to fill, and releases the small one; None (nothing
    /// changed) if no page could be had.
    pub(crate) fn promote(
        &mut self,
        id: EvidenceId,
        llr: i16,
        table: &mut Table,
        now: u32,
        t: Timeouts,
    ) -> Option<EvidenceId> {
        let (own, _) = split(id);
        let (owner, key, proto) = {
            let e = self.small(id)?;
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
                        let c = self.cost(self::id_of(p, i), llr, table, now, t);
                        dearest = dearest.zip(c).map(|(a, b)| a.max(b));
                    }
                    if let Some(c) = dearest {
                        if found.is_none_or(|(best, _)| c < best) {
                            found = Some((c, p));
                        }
                        if c == i32::MIN {
                            break;
                        }
                    }
                }
                let p = found?.1;
                if self.meta[p].large {
                    self.evict(id_of(p, 0), table);
                    // Now free, and listed so: take it back off.
                    let at = self.free.iter().rposition(|f| *f as usize == p)?;
                    self.free.swap_remove(at);
                } else {
                    self.clear_page(p, own, table, now, t);
                }
                p
            }
        };
        self.release(Some(id));
        self.in_use += 1;
        self.meta[page].large = true;
        self.pages[page].large = Evidence::default();
        let large = id_of(page, 0);
        table.set_evidence(owner as usize, Some(large));
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
        assert_eq!(std::mem::size_of::<Evidence>(), 1024);
    }

    #[test]
    fn the_sample_keeps_the_latest_distinct_targets() {
        let mut e = Evidence::default();
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

    /// Small records for sources 0 to `n` - 1, in order: their ids.
    fn take(pool: &mut EvidencePool, t: &mut Table, n: usize) -> Vec<EvidenceId> {
        (0..n)
            .map(|i| {
                let h = pool.acquire(i, i as u128, 0, 0, t, 0, T).unwrap();
                t.set_evidence(i, Some(h));
                h
            })
            .collect()
    }

    #[test]
    fn a_page_holds_eight_small_records_or_one_large() {
        let mut pool = EvidencePool::with_bytes(2 * PAGE + MAP).unwrap();
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
        pool.release(Some(held[0]));
        t.set_evidence(0, None);
        pool.release(Some(held[8]));
        t.set_evidence(8, None);
        assert!(pool.promote(held[1], -1, &mut t, 0, T).is_none());
        assert!(
            pool.small(held[1]).is_some(),
            "a failed promotion changes nothing"
        );
        // Emptying the second page frees it whole.
        for (i, h) in held.iter().enumerate().skip(9) {
            pool.release(Some(*h));
            t.set_evidence(i, None);
        }
        let large = pool.promote(held[1], 0, &mut t, 0, T).unwrap();
        assert_eq!(
            t.get(1).evidence,
            Some(large),
            "the source follows its record"
        );
        assert!(pool.small(held[1]).is_none());
        let e = pool.large(large).unwrap();
        assert_eq!((e.owner, e.key), (1, 1));
        assert!(pool.is_of(large, 1, 0) && !pool.is_of(large, 2, 0));
        assert_eq!(pool.in_use(), 7);
    }

    #[test]
    fn a_page_taken_for_a_large_record_moves_its_records_to_cheaper_places() {
        let mut pool = EvidencePool::with_bytes(3 * PAGE + MAP).unwrap();
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
        assert_eq!(t.get(16).evidence, None);
        let kept: Vec<usize> = (8..16).filter(|&i| t.get(i).evidence.is_some()).collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        let h = t.get(kept[0]).evidence.unwrap();
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
        let mut pool = EvidencePool::with_bytes(2 * PAGE + MAP).unwrap();
        assert_eq!(
            (pool.maps.len(), pool.pages.len()),
            (1, 2),
            "at least one map"
        );
        let mut t = sources(&[0; 2]);
        let h = pool.acquire(0, 0, 0, 0, &mut t, 0, T).unwrap();
        t.set_evidence(0, Some(h));
        let large = pool.promote(h, 0, &mut t, 0, T).unwrap();
        let m = pool.take_map().unwrap();
        assert!(pool.take_map().is_none(), "the only map is taken");
        assert!(pool.map_mut(m).insert(4242));
        assert!(!pool.map_mut(m).insert(4242));
        pool.large_mut(large).unwrap().port_map = m;
        pool.release(Some(large));
        let again = pool.take_map().unwrap();
        assert!(
            !pool.map_mut(again).contains(4242),
            "a map comes back empty"
        );
    }

    #[test]
    fn a_steal_takes_the_least_suspicious_record() {
        let mut pool = EvidencePool::with_bytes(PAGE + MAP).unwrap();
        let mut t = sources(&[800, 100, -300, 400, 500, 600, 700, 900, 100]);
        take(&mut pool, &mut t, 8);
        // Source 8 at 100 may take from sources 1 (100) and 2 (-300): the
        // lower walk goes.
        let h = pool.acquire(8, 8, 0, 100, &mut t, 0, T).unwrap();
        assert_eq!(t.get(2).evidence, None, "the loser forgets its record");
        assert_eq!(pool.small(h).unwrap().owner, 8);
        t.set_evidence(8, Some(h));
        assert!(pool.small(t.get(1).evidence.unwrap()).is_some());
    }

    #[test]
    fn a_promotion_takes_a_page_only_when_all_its_sources_may_lose() {
        let mut pool = EvidencePool::with_bytes(2 * PAGE + MAP).unwrap();
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
            assert_eq!(t.get(i).evidence, None, "source {i} lost its record");
        }
        assert_eq!(t.get(0).evidence, Some(large));
        // A reported large record is kept from anyone.
        pool.large_mut(large).unwrap().reported = 1;
        assert!(pool.reported(Some(large)));
    }
}
