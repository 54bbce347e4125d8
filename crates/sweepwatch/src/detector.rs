//! The detector: shards behind locks, the hashes that pick them, and verdict
//! delivery to the caller's callback.

use crate::config::{Config, Settings};
use crate::error::Error;
use crate::event::{Event, KeyedEvent, Outcome, Protocol, Timestamp};
use crate::hash::AddrHasher;

use crate::probe::{locality, Probe};
use crate::shard::{Hint, Shard};
use crate::stats::Stats;
use crate::verdict::Verdict;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

mod batch;
mod state;

thread_local! {
    /// The innermost verdict callback running on this thread: the detector
    /// delivering to it, and the frames of the callbacks it runs inside. A call
    /// back into a detector in this chain is refused instead of deadlocking on
    /// its held shard; other detectors may be created, fed and freed.
    static DELIVERING: Cell<*const Frame> = const { Cell::new(std::ptr::null()) };
}

/// One verdict callback in progress on this thread, on the stack of
/// [`Detector::deliver`].
struct Frame {
    /// The delivering detector's address.
    detector: *const Detector,
    /// The callback this one runs inside, or null.
    outer: *const Frame,
}

/// Restores [`DELIVERING`] to the enclosing frame even if the callback unwinds.
struct Delivering(*const Frame);

impl Drop for Delivering {
    fn drop(&mut self) {
        DELIVERING.with(|d| d.set(self.0));
    }
}

/// Whether this thread is running a verdict callback of `detector`, at any
/// depth.
fn is_delivering(detector: *const Detector) -> bool {
    let mut f = DELIVERING.with(|d| d.get());
    while !f.is_null() {
        // SAFETY: every frame in the chain lives on this thread's stack, below
        // the callback now running, until its Delivering guard unlinks it.
        let frame = unsafe { &*f };
        if frame.detector == detector {
            return true;
        }
        f = frame.outer;
    }
    false
}

/// The shard of source hash `h` among `n`. The table takes a source's
/// buckets from the high 32 bits of `h` and its fingerprint from the low 32,
/// so the shard must depend on neither alone: a multiply spreads every bit of
/// `h` into the product's high half, whose top bits pick the shard. (Picked
/// from the low 32 bits, every fingerprint in a shard would share its top
/// log2(n) bits, and sources without evidence would falsely match n times as
/// often.)
#[inline(always)]
fn shard_of(h: u64, n: usize) -> usize {
    (((h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) * n as u64) >> 32) as usize
}

/// A shard on its own cache lines, so that threads locking neighbours do not
/// contend for one line.
#[repr(align(128))]
struct Padded {
    shard: Mutex<Locked>,
    hint: Hint,
}

/// What a shard's lock guards: the shard, and the configuration the
/// one-event path last read ([`Detector::observe`]), with its epoch. That
/// path reads the configuration under the lock it takes anyway, and takes a
/// new one only when [`Detector::reconfigure`] has made one since: one
/// read of the epoch an event, instead of the detector's own lock.
struct Locked {
    shard: Shard,
    live: Arc<Live>,
    epoch: u64,
}

impl std::ops::Deref for Locked {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        &self.shard
    }
}

impl std::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Shard {
        &mut self.shard
    }
}

/// The verdict callback.
type Sink = dyn Fn(&Verdict) + Send + Sync;

/// Events per batch step: two steps' probes sit on the stack (88 KB), and a
/// step takes each shard's lock once. Threads feeding one detector hand each
/// shard's lock and state back and forth once a step, so longer steps share
/// better: with 8 shards, two threads spent 13% (1,000,000 sources) and 16%
/// (10,000,000) more CPU time an event than one with steps of 128 events,
/// and 5% with 512 (the prefetch distance, `AHEAD` in `detector/batch.rs`,
/// is apart from this).
const BATCH: usize = 512;

/// Shards whose table and filter together fit in this many bytes stay in the
/// core's cache: batches skip prefetching for them, which would only add work.
const CACHED_SHARD_BYTES: u64 = 1 << 20;

/// Finds sources that sweep or scan, one event at a time, in fixed memory.
///
/// All memory is allocated by [`Detector::new`]; observing events and delivering
/// verdicts never allocates. A detector is `Send + Sync`: several threads may feed
/// it at once. Sources are partitioned into [`Config::shards`] shards, each
/// behind its own lock; the verdict callback runs on the thread whose event
/// decided, while that shard's lock is held. A callback that calls back into the
/// detector delivering to it (or one whose callback it runs inside) gets
/// [`Error::Reentrant`]; it may create, feed and drop other detectors.
///
/// # Examples
/// ```
/// use std::sync::{Arc, Mutex};
/// use sweepwatch::{Config, Detector, Event, Kind, Outcome, Protocol, Timestamp};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let out = Arc::clone(&seen);
/// let det = Detector::new(Config::default(), move |v| out.lock().unwrap().push(*v)).unwrap();
///
/// // 203.0.113.7 knocks on port 22 of ten home hosts; all refuse.
/// for i in 1..=10u8 {
///     let dst = std::net::Ipv4Addr::new(10, 0, 0, i).into();
///     let ev = Event::new(Timestamp::from_secs(1_700_000_000 + u64::from(i)),
///                         "203.0.113.7".parse().unwrap(), dst, 22,
///                         Protocol::Tcp, Outcome::Refused);
///     det.observe(&ev).unwrap();
/// }
/// let v = seen.lock().unwrap()[0];
/// assert_eq!(v.kind, Kind::PortSweep);
/// assert_eq!(v.ports(), &[22]);
/// assert_eq!(v.targets, 5); // decided at the fifth refused host
/// ```
pub struct Detector {
    /// The configuration and what it compiles to, replaced whole by
    /// [`reconfigure`](Detector::reconfigure). A batch takes it once a call
    /// ([`live`](Detector::live)); the one-event path reads its shard's copy,
    /// so this lock is taken once a batch, not once an event.
    live: Mutex<Arc<Live>>,
    /// How many times [`reconfigure`](Detector::reconfigure) replaced
    /// `live`: the shards' copies of an older epoch are stale.
    epoch: AtomicU64,
    /// The keyed hashes, which never change: a probe is hashed before its
    /// shard is known, so it takes them from here.
    hasher: AddrHasher,
    shards: Box<[Padded]>,
    /// Whether batches prefetch: only when a shard outgrows the cache.
    prefetch: bool,
    sink: Box<Sink>,
}

/// A detector's configuration and its compiled settings, which change
/// together.
struct Live {
    /// The configuration, for saved states.
    config: Config,
    settings: Settings,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Validates `config`, allocates all state, and remembers `on_verdict`, which
    /// receives each verdict synchronously. The verdict reference is valid only
    /// during the call; copy it (it is `Copy`) to keep it.
    ///
    /// # Errors
    /// [`Error::Config`] if a configuration value is out of range;
    /// [`Error::NoMemory`] if `memory_bytes` is more than the machine's
    /// physical memory or cannot be allocated (never an abort).
    pub fn new<F>(config: Config, on_verdict: F) -> Result<Detector, Error>
    where
        F: Fn(&Verdict) + Send + Sync + 'static,
    {
        let settings = Settings::compile(&config)?;
        let no_memory = Error::NoMemory {
            bytes: settings.memory_bytes,
        };
        // Pages are touched now, so memory that maps but cannot be backed
        // would bring the OOM killer rather than an error: ask no more than
        // the machine has.
        if physical_memory().is_some_and(|m| settings.memory_bytes > m) {
            return Err(no_memory);
        }
        let per_shard = settings.memory_bytes / u64::from(settings.shards);
        let hasher = settings.hasher.clone();
        let live = Arc::new(Live { config, settings });
        let shards: Box<[Padded]> = (0..live.settings.shards)
            .map(|_| {
                let shard = Shard::try_with_bytes(per_shard)?;
                Ok(Padded {
                    hint: shard.hint(),
                    shard: Mutex::new(Locked {
                        shard,
                        live: Arc::clone(&live),
                        epoch: 0,
                    }),
                })
            })
            .collect::<Result<_, Error>>()
            .map_err(|_| no_memory)?;
        let prefetch = shards[0].hint.bytes() > CACHED_SHARD_BYTES;
        Ok(Detector {
            live: Mutex::new(live),
            epoch: AtomicU64::new(0),
            hasher,
            shards,
            prefetch,
            sink: Box::new(on_verdict),
        })
    }

    /// An event as the shards read it: a UDP reply becomes unsolicited, and
    /// the hashes are taken. A source is tracked per protocol, so its hash
    /// covers the protocol.
    #[inline(always)]
    fn probe(s: &Settings, ev: &KeyedEvent) -> Probe {
        let mut p = Self::hashed(&s.hasher, ev);
        Self::replies(s, &mut p);
        p
    }

    /// A UDP datagram from a reply port to a high port is a reply: it
    /// probes nothing.
    #[inline(always)]
    fn replies(s: &Settings, p: &mut Probe) {
        if p.proto == Protocol::Udp && s.is_reply(p.src_port, p.dst_port) {
            p.outcome = Outcome::Unsolicited;
        }
    }

    /// An event as the shards read it, hashed, before the configuration's
    /// reply ports are applied ([`replies`](Self::replies)).
    #[inline(always)]
    fn hashed(hasher: &AddrHasher, ev: &KeyedEvent) -> Probe {
        let mut p = Probe {
            ts: ev.ts,
            src: ev.src.bits(),
            dst: ev.dst.bits(),
            dst_port: ev.dst_port,
            proto: ev.proto,
            outcome: ev.outcome,
            technique: ev.technique,
            local: locality(ev.src_local, ev.dst_local),
            src_lead: ev.src.lead(),
            dst_lead: ev.dst.lead(),
            h_src: 0,
            pair: 0,
            zone: ev.zone,
            src_port: ev.src_port,
        };
        p.h_src = hasher.source(p.src, p.zone, p.proto.index());
        let service = crate::hash::service(p.dst_port, p.proto.index());
        p.pair = hasher.pair(p.h_src, p.dst, service);
        p
    }

    #[inline]
    fn shard_of(&self, h_src: u64) -> usize {
        shard_of(h_src, self.shards.len())
    }

    /// The configuration in place now.
    fn live(&self) -> Arc<Live> {
        // Nothing panics while it is held: a poisoned lock still holds it.
        Arc::clone(&self.live.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn lock(&self, i: usize) -> MutexGuard<'_, Locked> {
        // A callback that panicked left the shard consistent (verdicts are
        // delivered after every update), so a poisoned lock is still usable.
        self.shards[i]
            .shard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Shard `i`'s lock if no other thread holds it.
    fn try_lock(&self, i: usize) -> Option<MutexGuard<'_, Locked>> {
        match self.shards[i].shard.try_lock() {
            Ok(shard) => Some(shard),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Feeds one event.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    #[inline]
    pub fn observe(&self, ev: &Event) -> Result<(), Error> {
        self.refuse_reentry()?;
        self.observe_probe(Self::hashed(&self.hasher, &KeyedEvent::from(ev)));
        Ok(())
    }

    /// [`observe`](Detector::observe) for an event whose addresses are
    /// already keys: the door for front ends that hold raw address bytes.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{AddrKey, Config, Detector, KeyedEvent, Outcome, Protocol, Technique, Timestamp};
    ///
    /// let det = Detector::new(Config::default(), |_| {}).unwrap();
    /// det.observe_keyed(&KeyedEvent {
    ///     ts: Timestamp::from_secs(1_700_000_000),
    ///     src: AddrKey::from_ipv4_octets([203, 0, 113, 7]),
    ///     dst: AddrKey::from_ipv4_octets([10, 0, 0, 1]),
    ///     src_port: 40000,
    ///     dst_port: 22,
    ///     proto: Protocol::Tcp,
    ///     outcome: Outcome::Refused,
    ///     technique: Technique::Syn,
    ///     src_local: None,
    ///     dst_local: None,
    ///     zone: 0,
    /// })
    /// .unwrap();
    /// assert_eq!(det.stats().unwrap().events, 1);
    /// ```
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    #[inline]
    pub fn observe_keyed(&self, ev: &KeyedEvent) -> Result<(), Error> {
        self.refuse_reentry()?;
        self.observe_probe(Self::hashed(&self.hasher, ev));
        Ok(())
    }

    /// Observes one event made a probe, under its shard's lock.
    #[inline(always)]
    fn observe_probe(&self, mut p: Probe) {
        let mut guard = self.lock(self.shard_of(p.h_src));
        let Locked { shard, live, epoch } = &mut *guard;
        let now = self.epoch.load(Ordering::Acquire);
        if *epoch != now {
            *live = self.live();
            *epoch = now;
        }
        Self::replies(&live.settings, &mut p);
        shard.observe(&live.settings, &p, &mut |v| self.deliver(v));
    }

    /// Replaces the configuration of a running detector, keeping its state:
    /// every source, its evidence, the scans in progress and the verdicts'
    /// suppression. Home networks, allow and ignore rules, reply ports,
    /// thresholds and timeouts may change; `memory_bytes`, `shards` and
    /// `dedup_secs`, which lay out the state, may not, nor a set
    /// `hash_seed` (the detector keeps its hash keys). Each feeding call
    /// reads the configuration in place when it starts, so a batch that
    /// runs meanwhile ends under the old one; the new one is compiled before
    /// it is put in place, so feeding calls wait for no more than that.
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sweepwatch::{AllowRule, Config, Detector, Event, Outcome, Protocol, Timestamp};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let out = Arc::clone(&seen);
    /// let det = Detector::new(Config::default(), move |v| out.lock().unwrap().push(*v)).unwrap();
    /// let probe = |host: u8| Event::new(Timestamp::from_secs(1_700_000_000),
    ///     "198.51.100.4".parse().unwrap(), format!("192.168.1.{host}").parse().unwrap(),
    ///     22, Protocol::Tcp, Outcome::Refused);
    /// for host in 1..=3 { det.observe(&probe(host)).unwrap(); }
    /// // An operator allows another scanner; this one's three probes stay counted.
    /// let mut cfg = Config::default();
    /// cfg.allow.push(AllowRule::Net("192.0.2.10/32".into()));
    /// det.reconfigure(cfg).unwrap();
    /// for host in 4..=5 { det.observe(&probe(host)).unwrap(); }
    /// assert_eq!(seen.lock().unwrap()[0].targets, 5);
    /// // The layout cannot change while running.
    /// let bigger = Config { memory_bytes: 128 << 20, ..Config::default() };
    /// assert!(det.reconfigure(bigger).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] if `config` is invalid, or changes what lays out
    /// the state (the field `config`, naming each change); the detector
    /// then keeps its configuration.
    pub fn reconfigure(&self, mut config: Config) -> Result<(), Error> {
        let live = self.live();
        let changes = state::layout_changes(&live.config, &config);
        if !changes.is_empty() {
            return Err(Error::config(
                "config",
                format!(
                    "{}: memory_bytes, shards, dedup_secs and hash_seed cannot change \
                     while the detector runs",
                    changes.join(", ")
                ),
            ));
        }
        let mut settings = Settings::compile(&config)?;
        // The same keys, so that every source is found where it was put.
        settings.hasher = live.settings.hasher.clone();
        config.hash_seed = live.config.hash_seed;
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(Live { config, settings });
        // After the store: a shard that sees the new epoch loads the new
        // configuration (or a newer one).
        self.epoch.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Whether the calling thread is running a verdict callback of this
    /// detector, at any depth: calls into the detector from there are refused
    /// ([`Error::Reentrant`]), and a front end may refuse its own calls too.
    pub fn is_delivering(&self) -> bool {
        is_delivering(self)
    }

    fn deliver(&self, v: &Verdict) {
        let outer = DELIVERING.with(|d| d.get());
        let frame = Frame {
            detector: self,
            outer,
        };
        DELIVERING.with(|d| d.set(&frame));
        let _guard = Delivering(outer);
        (self.sink)(v);
    }

    /// Refuses a call from a verdict callback of this detector.
    #[inline]
    fn refuse_reentry(&self) -> Result<(), Error> {
        // The common case reads one null pointer.
        if is_delivering(self) {
            Err(Error::Reentrant)
        } else {
            Ok(())
        }
    }

    /// Feeds many events; the same verdicts and counters as feeding them one by
    /// one, but faster: it takes each shard's lock once per group of events
    /// and, for shards too large to stay in cache (over 1 MiB of table and
    /// filter), prefetches the memory the next events will touch. Each
    /// source's events are taken in order; verdicts of sources in different
    /// shards may arrive in another order than one by one. Events are taken
    /// in steps of 512, whose hashes sit on the calling thread's stack: about
    /// 100 KiB of it.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
    ///
    /// let report = |v: &sweepwatch::Verdict| println!("{} from {}", v.kind.as_str(), v.src);
    /// let det = Detector::new(Config::default(), report).unwrap();
    /// let events: Vec<Event> = (1..=10u8)
    ///     .map(|i| {
    ///         let ts = Timestamp::from_secs(1_700_000_000 + u64::from(i));
    ///         let dst = std::net::Ipv4Addr::new(10, 0, 0, i).into();
    ///         let src = "203.0.113.7".parse().unwrap();
    ///         Event::new(ts, src, dst, 22, Protocol::Tcp, Outcome::Refused)
    ///     })
    ///     .collect();
    /// det.observe_batch(&events).unwrap();
    /// assert_eq!(det.stats().unwrap().verdicts, 1);
    /// ```
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    pub fn observe_batch(&self, events: &[Event]) -> Result<(), Error> {
        self.observe_batch_with(events, |s, ev| Self::probe(s, &KeyedEvent::from(ev)))
    }

    /// [`observe_batch`](Detector::observe_batch) for items of the caller's
    /// own type, which `key` turns into [`KeyedEvent`]s as they are read: a
    /// front end feeds its buffer as it is, without copying it first.
    ///
    /// # Examples
    /// ```
    /// use sweepwatch::{AddrKey, Config, Detector, KeyedEvent, Outcome, Protocol, Technique, Timestamp};
    ///
    /// // A front end's own record: raw address bytes and a port.
    /// struct Record { src: [u8; 4], dst: [u8; 4], port: u16 }
    /// let records: Vec<Record> = (1..=10u8)
    ///     .map(|i| Record { src: [203, 0, 113, 7], dst: [10, 0, 0, i], port: 22 })
    ///     .collect();
    /// let det = Detector::new(Config::default(), |_| {}).unwrap();
    /// det.observe_keyed_batch(&records, |r| KeyedEvent {
    ///     ts: Timestamp::from_secs(1_700_000_000),
    ///     src: AddrKey::from_ipv4_octets(r.src),
    ///     dst: AddrKey::from_ipv4_octets(r.dst),
    ///     src_port: 40000,
    ///     dst_port: r.port,
    ///     proto: Protocol::Tcp,
    ///     outcome: Outcome::Refused,
    ///     technique: Technique::Syn,
    ///     src_local: None,
    ///     dst_local: None,
    ///     zone: 0,
    /// })
    /// .unwrap();
    /// assert_eq!(det.stats().unwrap().verdicts, 1);
    /// ```
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    #[inline]
    pub fn observe_keyed_batch<T>(
        &self,
        items: &[T],
        key: impl Fn(&T) -> KeyedEvent,
    ) -> Result<(), Error> {
        self.observe_batch_with(items, |s, item| Self::probe(s, &key(item)))
    }

    /// Tells the detector that capture time has reached `now` although no events
    /// came: sources idle since their timeout are forgotten and the first-contact
    /// filter turns over. A reported source idle past its timeout has ended its
    /// episode, and its final extent goes to the verdict callback now (as it
    /// does when the source comes back later, or is pushed out). Its cost is
    /// proportional to the memory budget, so call it at most every few seconds,
    /// and only when traffic is idle.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    pub fn advance(&self, now: Timestamp) -> Result<(), Error> {
        self.refuse_reentry()?;
        let live = self.live();
        for i in 0..self.shards.len() {
            self.lock(i)
                .advance(&live.settings, now, &mut |v| self.deliver(v));
        }
        Ok(())
    }

    /// Delivers to the verdict callback the final extent of every source
    /// reported in its current episode (earlier episodes' extents were
    /// delivered when they ended): a [`Verdict`] with
    /// [`is_final`](Verdict::is_final) set and the counts as they stand, so a
    /// scan that grew after its verdict is reported as it ended. Call it at
    /// the end of a capture, or now and then on live traffic; the detector's
    /// state is unchanged. Costs a pass over the table, like
    /// [`advance`](Detector::advance).
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sweepwatch::{Config, Detector, Event, Outcome, Protocol, Timestamp};
    ///
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let out = Arc::clone(&seen);
    /// let det = Detector::new(Config::default(), move |v| out.lock().unwrap().push(*v)).unwrap();
    /// for port in 1..=30u16 {
    ///     det.observe(&Event::new(Timestamp::from_secs(1_700_000_000),
    ///         "198.51.100.4".parse().unwrap(), "192.168.1.10".parse().unwrap(),
    ///         port, Protocol::Tcp, Outcome::Refused)).unwrap();
    /// }
    /// det.flush().unwrap();
    /// let v = seen.lock().unwrap();
    /// assert_eq!((v[0].ports_count, v[0].is_final), (5, false)); // decided at 5 ports
    /// assert_eq!((v[1].ports_count, v[1].is_final), (30, true)); // ended at 30
    /// ```
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    pub fn flush(&self) -> Result<(), Error> {
        self.refuse_reentry()?;
        let live = self.live();
        for i in 0..self.shards.len() {
            self.lock(i).flush(&live.settings, &mut |v| self.deliver(v));
        }
        Ok(())
    }

    /// A snapshot of the counters, summed over the shards.
    ///
    /// # Errors
    /// [`Error::Reentrant`] if called from inside a verdict callback of this detector.
    pub fn stats(&self) -> Result<Stats, Error> {
        self.refuse_reentry()?;
        let mut st = Stats::default();
        for i in 0..self.shards.len() {
            self.lock(i).add_stats(&mut st);
        }
        Ok(st)
    }
}

/// The machine's physical memory in bytes, where the system says. Linux
/// only, like `libc`, the one platform tested; elsewhere the budget is the
/// configured one.
#[cfg(all(target_os = "linux", not(miri)))]
fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || size <= 0 {
        return None;
    }
    Some((pages as u64).saturating_mul(size as u64))
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn physical_memory() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::shard_of;
    use crate::hash::AddrHasher;
    use crate::table::fp_of;

    /// Sources of one shard must not share fingerprint bits. Counts the pairs
    /// of sources in shard 0 whose fingerprints match in their top 16 bits, a
    /// stand-in for full 32-bit matches that a test can see: about
    /// C(2000, 2) / 2^16 = 30 when the shard says nothing of the fingerprint,
    /// 2^log2(n) times that when it fixes the fingerprint's top bits.
    #[test]
    fn a_shard_says_nothing_of_its_sources_fingerprints() {
        let hasher = AddrHasher::new(Some(7));
        for shards in [8usize, 1024] {
            let mut tops = Vec::new();
            let mut key = 0u128;
            while tops.len() < 2000 {
                key += 1;
                let h = hasher.source(0xffff_0a00_0000 + key, 0, 0);
                if shard_of(h, shards) == 0 {
                    tops.push(fp_of(h) >> 16);
                }
            }
            tops.sort_unstable();
            let mut matches = 0u64;
            let mut run = 1u64;
            for w in tops.windows(2) {
                if w[0] == w[1] {
                    run += 1;
                } else {
                    matches += run * (run - 1) / 2;
                    run = 1;
                }
            }
            matches += run * (run - 1) / 2;
            let expected = 2000.0 * 1999.0 / 2.0 / 65536.0;
            assert!(
                (matches as f64) < 3.0 * expected,
                "{shards} shards: {matches} pairs match in their top 16 bits, {expected:.0} expected"
            );
        }
    }

    #[test]
    fn every_shard_gets_its_share() {
        let hasher = AddrHasher::new(Some(7));
        let mut count = [0u32; 8];
        for key in 0..80_000u128 {
            count[shard_of(hasher.source(key, 0, 0), 8)] += 1;
        }
        for c in count {
            assert!((9_000..11_000).contains(&c), "{count:?}");
        }
    }
}
