//! An aggregator: owns partitions by lease, runs a detector for each, and
//! writes each verdict once.

use crate::checkpoint::Checkpoint;
use crate::setup::{self, Setup};
use crate::store::{self, Limits};
use crate::{names, verdict_id, wire, Error};
use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, kv, object_store, stream};
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sweepwatch::order::{Reorder, Window};
use sweepwatch::{Config, Detector, Verdict};
use tokio::io::AsyncReadExt;

/// How an aggregator runs.
#[derive(Clone, Debug)]
pub struct AggregateOptions {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// This aggregator's name: unique among the deployment's aggregators.
    pub name: String,
    /// The setup a new deployment gets if this is its first process.
    pub setup: Setup,
    /// Streams and stores made by this aggregator if it is the first.
    pub limits: Limits,
    /// Each partition's detector's configuration; its `memory_bytes`,
    /// `shards` and `hash_seed` are the deployment's ([`Setup`]).
    pub config: Config,
    /// The ordering window of each partition: sensors' events meet out of
    /// order. A partition whose events stop for the window's length (in
    /// wall-clock time) has what it holds fed then, as `watch` does: what
    /// was to come before those events has come.
    pub window: Window,
    /// How often a partition with new events is checkpointed.
    pub checkpoint_every: Duration,
    /// Stop once no event has come for this long, after feeding everything
    /// held, writing the final extents of the sources reported,
    /// checkpointing and handing the partitions back: for replays of
    /// finished captures. `None` runs until the process is stopped.
    pub exit_when_idle: Option<Duration>,
    /// Set (by a signal handler) to stop: every partition is checkpointed
    /// and handed back, without feeding what is held (the next owner holds
    /// it again from the checkpoint).
    pub stop: Option<Arc<AtomicBool>>,
}

/// What an aggregator did, when it stops.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggregateReport {
    /// Partitions taken (a partition given back and taken again counts twice).
    pub partitions_taken: u64,
    /// Partitions taken from a checkpoint.
    pub restored: u64,
    /// Events fed to the detectors.
    pub events: u64,
    /// Messages that were no event batch (counted and skipped).
    pub malformed: u64,
    /// Verdicts written.
    pub written: u64,
    /// Verdicts skipped because their id was written before (a replay after
    /// a restart or a takeover).
    pub skipped: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Failures overcome (see [`aggregate`]'s `on_warning`).
    pub warnings: u64,
    /// From the first fetch that brought events to the end of the last:
    /// `events` over it is the rate events were taken in while they came.
    pub busy: Duration,
}

/// One partition this aggregator owns.
struct Part {
    det: Detector,
    decided: Arc<Mutex<Vec<Verdict>>>,
    order: Reorder<()>,
    consumer: jetstream::consumer::PullConsumer,
    /// The lease's revision in the owners bucket.
    lease: u64,
    /// When the lease was last written (taken or renewed).
    renewed_at: Instant,
    /// The last stream sequence fed to `order`.
    seq: u64,
    saved_at: Instant,
    /// When its last events came.
    fed_at: Instant,
    /// Its window holds events.
    holding: bool,
    /// Something happened since the checkpoint (events, or a drain).
    dirty: bool,
}

/// Runs an aggregator until it is stopped ([`AggregateOptions::stop`]) or
/// has been idle for [`AggregateOptions::exit_when_idle`]. `on_verdict` gets
/// each verdict that no aggregator of the deployment wrote before, with its
/// [`verdict_id`]; verdicts also go to [`names::VERDICT_SUBJECT`].
/// `on_warning` hears of what went wrong and was overcome: a partition
/// whose consumer or checkpoint failed is handed back and taken again from
/// its checkpoint (by this aggregator or another).
///
/// # Errors
/// The server cannot be reached (for half a minute at start) or its setup
/// cannot be used.
pub fn aggregate(
    opts: &AggregateOptions,
    on_verdict: impl FnMut(&Verdict, u64) + Send,
    on_warning: impl FnMut(&str) + Send,
) -> Result<AggregateReport, Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::new(format!("starting the aggregator: {e}")))?;
    rt.block_on(Aggregator::run(opts, on_verdict, Box::new(on_warning)))
}

struct Aggregator<'a, F> {
    opts: &'a AggregateOptions,
    setup: Setup,
    client: async_nats::Client,
    stream: stream::Stream,
    owners: kv::Store,
    ids: kv::Store,
    states: object_store::ObjectStore,
    parts: BTreeMap<u32, Part>,
    member: Option<u64>,
    on_verdict: F,
    on_warning: Box<dyn FnMut(&str) + Send + 'a>,
    report: AggregateReport,
}

/// What a deployment's aggregator works with.
struct Opened {
    /// Streams given more copies (made by a sensor that came first).
    raised: Vec<String>,
    client: async_nats::Client,
    setup: Setup,
    stream: stream::Stream,
    owners: kv::Store,
    ids: kv::Store,
    states: object_store::ObjectStore,
}

/// The owners bucket's key of partition `p`.
fn lease_key(p: u32) -> String {
    format!("p{p}")
}

/// The durable consumer of partition `p`'s subject.
fn consumer_name(p: u32) -> String {
    format!("agg-p{p}")
}

/// The owners bucket's key that says an aggregator is alive.
fn member_key(name: &str) -> String {
    // Keys allow letters, digits, `-`, `_`, `=`, `.` and `/`.
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("m.{clean}")
}

impl<'a, F: FnMut(&Verdict, u64)> Aggregator<'a, F> {
    async fn run(
        opts: &'a AggregateOptions,
        on_verdict: F,
        on_warning: Box<dyn FnMut(&str) + Send + 'a>,
    ) -> Result<AggregateReport, Error> {
        // A cluster that is starting has no JetStream leader yet: try for
        // half a minute before giving up.
        let mut tries = 0;
        let o = loop {
            match Self::open(opts).await {
                Ok(all) => break all,
                Err(e) if tries >= 30 => return Err(e),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut a = Aggregator {
            opts,
            setup: o.setup,
            client: o.client,
            stream: o.stream,
            owners: o.owners,
            ids: o.ids,
            states: o.states,
            parts: BTreeMap::new(),
            member: None,
            on_verdict,
            on_warning,
            report: AggregateReport::default(),
        };
        for r in o.raised {
            a.warn(&format!(
                "copies raised for {r} (made by a process started with fewer)"
            ));
        }
        a.main_loop().await?;
        Ok(a.report)
    }

    /// Connects, and opens (or makes) the deployment's setup, stream and
    /// stores.
    async fn open(opts: &AggregateOptions) -> Result<Opened, Error> {
        let client = crate::connect(&opts.url, &opts.name).await?;
        let js = jetstream::new(client.clone());
        let setup = setup::fetch_or_create(&js, &opts.setup, opts.limits.replicas).await?;
        let lim = &opts.limits;
        let stream = store::events(&js, lim).await?;
        let owners = store::kv(&js, names::OWNERS_BUCKET, lim.replicas, lim.lease).await?;
        let ids = store::kv(
            &js,
            names::VERDICTS_BUCKET,
            lim.replicas,
            lim.verdict_ids_age,
        )
        .await?;
        let states = store::states(&js, lim).await?;
        let mut raised = Vec::new();
        for name in store::all_streams() {
            if let Some(had) = store::raise_replicas(&js, &name, lim.replicas).await? {
                raised.push(format!("{name} from {had} to {}", lim.replicas));
            }
        }
        Ok(Opened {
            raised,
            client,
            setup,
            stream,
            owners,
            ids,
            states,
        })
    }

    async fn main_loop(&mut self) -> Result<(), Error> {
        let renew_every = (self.opts.limits.lease / 3).max(Duration::from_millis(100));
        let mut renewed = Instant::now() - renew_every;
        let mut last_event = Instant::now();
        let mut first_fetch: Option<Instant> = None;
        loop {
            let round = Instant::now();
            if renewed.elapsed() >= renew_every {
                renewed = Instant::now();
                self.leases(renew_every).await;
            }
            let mut got = 0;
            let owned: Vec<u32> = self.parts.keys().copied().collect();
            for p in owned {
                match self.pull(p).await {
                    Ok(n) => got += n,
                    Err(e) => {
                        self.warn(&format!("{e}; partition {p} handed back"));
                        self.drop_part(p).await;
                    }
                }
            }
            if got > 0 {
                last_event = Instant::now();
                let first = *first_fetch.get_or_insert(round);
                self.report.busy = last_event - first;
            }
            let ckpt = self.opts.checkpoint_every;
            let due: Vec<u32> = self
                .parts
                .iter()
                .filter(|(_, part)| part.dirty && part.saved_at.elapsed() >= ckpt)
                .map(|(p, _)| *p)
                .collect();
            for p in due {
                if let Err(e) = self.checkpoint(p).await {
                    // Tried again at the next round; a takeover meanwhile
                    // replays from the last one written.
                    self.warn(&e.to_string());
                }
            }
            self.release_idle().await;
            if let Some(idle) = self.opts.exit_when_idle {
                if last_event.elapsed() >= idle && !self.parts.is_empty() {
                    self.stop(true).await;
                    return Ok(());
                }
            }
            if self
                .opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
            {
                self.stop(false).await;
                return Ok(());
            }
            if got == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Renews this aggregator's leases and membership, gives back what is
    /// over its share, and takes free partitions up to it.
    async fn leases(&mut self, renew_every: Duration) {
        let me = member_key(&self.opts.name);
        self.member = match self.member {
            Some(rev) => self
                .owners
                .update(&me, self.opts.name.clone().into(), rev)
                .await
                .ok(),
            None => self
                .owners
                .put(&me, self.opts.name.clone().into())
                .await
                .ok(),
        };
        // All at once: while a cluster elects a leader each request waits
        // for its timeout, and one after the other they would outlast the
        // leases.
        let owners = &self.owners;
        let name = &self.opts.name;
        let renewed = futures::future::join_all(self.parts.iter().map(|(p, part)| async move {
            let r = owners
                .update(lease_key(*p), name.clone().into(), part.lease)
                .await;
            (*p, r.map_err(|e| e.kind()))
        }))
        .await;
        // A renewal that failed (no leader for a moment, a timeout) leaves
        // the lease as it was: it holds until its time is up, less a round
        // of renewal for the server's clock being ahead of this one's.
        let holds = self.opts.limits.lease.saturating_sub(renew_every);
        for (p, rev) in renewed {
            let rev = match rev {
                // Written since this aggregator last heard: by itself (a
                // renewal that timed out here was stored after all), or by
                // another aggregator, which holds it now.
                Err(kv::UpdateErrorKind::WrongLastRevision) => {
                    match self.owners.entry(lease_key(p)).await {
                        Ok(Some(e))
                            if e.operation == kv::Operation::Put
                                && e.value.as_ref() == self.opts.name.as_bytes() =>
                        {
                            // Renewed when the server stored it.
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_nanos() as i128);
                            let age = now.saturating_sub(e.created.unix_timestamp_nanos());
                            let age = Duration::from_nanos(u64::try_from(age).unwrap_or(0));
                            Ok((e.revision, age))
                        }
                        // Not to be read now (no leader): as a failed renewal.
                        Err(_) => Err(kv::UpdateErrorKind::Other),
                        // Gone (expired) or another's.
                        _ => Err(kv::UpdateErrorKind::WrongLastRevision),
                    }
                }
                r => r.map(|rev| (rev, Duration::ZERO)),
            };
            let Some(part) = self.parts.get_mut(&p) else {
                continue;
            };
            let lost = match rev {
                Ok((rev, age)) => {
                    part.lease = rev;
                    let now = Instant::now();
                    part.renewed_at = now.checked_sub(age).unwrap_or(now);
                    continue;
                }
                Err(kv::UpdateErrorKind::WrongLastRevision) => {
                    "expired, or taken by another aggregator"
                }
                Err(_) if part.renewed_at.elapsed() >= holds => "not renewed in time",
                Err(_) => continue,
            };
            // This one's work since the checkpoint is replayed by whoever
            // takes it next.
            self.parts.remove(&p);
            self.warn(&format!(
                "partition {p}'s lease lost ({lost}); \
                 its events since its checkpoint are read again"
            ));
        }
        let members = self.members().await.max(1);
        let share = self.setup.partitions.div_ceil(members) as usize;
        while self.parts.len() > share {
            let Some(&p) = self.parts.keys().next_back() else {
                break;
            };
            self.give_back(p).await;
        }
        for p in 0..self.setup.partitions {
            if self.parts.len() >= share {
                break;
            }
            if self.parts.contains_key(&p) {
                continue;
            }
            if let Ok(rev) = self
                .owners
                .create(lease_key(p), self.opts.name.clone().into())
                .await
            {
                if let Err(e) = self.take(p, rev).await {
                    self.warn(&e.to_string());
                    let _ = self
                        .owners
                        .delete_expect_revision(lease_key(p), Some(rev))
                        .await;
                }
            }
        }
    }

    fn warn(&mut self, msg: &str) {
        self.report.warnings += 1;
        (self.on_warning)(msg);
    }

    /// Forgets partition `p` without a checkpoint, and frees its lease: it
    /// is taken again from its last checkpoint.
    async fn drop_part(&mut self, p: u32) {
        if let Some(part) = self.parts.remove(&p) {
            let _ = self
                .owners
                .delete_expect_revision(lease_key(p), Some(part.lease))
                .await;
        }
    }

    /// Aggregators alive: their membership keys in the owners bucket.
    async fn members(&self) -> u32 {
        let Ok(mut keys) = self.owners.keys().await else {
            return 1;
        };
        let mut n = 0;
        while let Some(k) = keys.next().await {
            if k.is_ok_and(|k| k.starts_with("m.")) {
                n += 1;
            }
        }
        n
    }

    /// Takes partition `p` under lease revision `lease`: its checkpoint if
    /// there is one, and a consumer from the sequence after it.
    async fn take(&mut self, p: u32, lease: u64) -> Result<(), Error> {
        let decided = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&decided);
        let on = move |v: &Verdict| sink.lock().unwrap_or_else(|e| e.into_inner()).push(*v);
        let config = Config {
            memory_bytes: self.setup.partition_memory,
            shards: 1,
            hash_seed: Some(self.setup.seed_of(p)),
            ..self.opts.config.clone()
        };
        let mut order = Reorder::new(self.opts.window)
            .ok_or_else(|| Error::new("the ordering window's memory cannot be had"))?;
        let (det, seq) = match self.load(p).await? {
            Some(c) => {
                let det = Detector::restore(config, &c.state[..], on)
                    .map_err(|e| Error::new(format!("partition {p}'s checkpoint: {e}")))?;
                order.resume(c.held, |b, _| {
                    let _ = det.observe_batch(b);
                });
                self.report.restored += 1;
                (det, c.seq)
            }
            None => (
                Detector::new(config, on).map_err(|e| Error::new(e.to_string()))?,
                0,
            ),
        };
        if let Ok(info) = self.stream.info().await {
            let first = info.state.first_sequence;
            if first > seq + 1 && info.state.messages > 0 {
                self.warn(&format!(
                    "partition {p}: the stream no longer holds sequences {} to {} (its \
                     limits dropped them) after the partition's checkpoint; events of the \
                     partition among them are lost (raise --stream-mib or --stream-hours)",
                    seq + 1,
                    first - 1
                ));
            }
        }
        let durable = consumer_name(p);
        let _ = self.stream.delete_consumer(&durable).await;
        let consumer = self
            .stream
            .create_consumer(pull::Config {
                durable_name: Some(durable),
                filter_subject: Setup::subject(p),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: seq + 1,
                },
                ack_policy: AckPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::new(format!("partition {p}'s consumer: {e}")))?;
        self.report.partitions_taken += 1;
        self.parts.insert(
            p,
            Part {
                det,
                decided,
                order,
                consumer,
                lease,
                renewed_at: Instant::now(),
                seq,
                saved_at: self.staggered(p),
                fed_at: Instant::now(),
                holding: true,
                dirty: false,
            },
        );
        self.write_decided(p).await;
        Ok(())
    }

    /// When partition `p` counts as last checkpointed, at its taking: spread
    /// over a checkpoint period by partition, so that partitions taken
    /// together are not all saved in one round (each save holds up the
    /// others' events).
    fn staggered(&self, p: u32) -> Instant {
        let every = self.opts.checkpoint_every;
        let back = every.mul_f64(f64::from(p % 16) / 16.0);
        Instant::now()
            .checked_sub(back)
            .unwrap_or_else(Instant::now)
    }

    /// Partition `p`'s checkpoint, if it has one.
    async fn load(&self, p: u32) -> Result<Option<Checkpoint>, Error> {
        let Ok(mut obj) = self.states.get(lease_key(p)).await else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        obj.read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::new(format!("reading partition {p}'s checkpoint: {e}")))?;
        Checkpoint::decode(&bytes)
            .map(Some)
            .map_err(|e| Error::new(format!("partition {p}: {e}")))
    }

    /// Feeds partition `p` what has come for it; returns the messages read.
    async fn pull(&mut self, p: u32) -> Result<u64, Error> {
        let Some(part) = self.parts.get_mut(&p) else {
            return Ok(0);
        };
        let mut msgs = part
            .consumer
            .fetch()
            .max_messages(256)
            .messages()
            .await
            .map_err(|e| Error::new(format!("partition {p}: {e}")))?;
        let mut n = 0;
        let mut last = None;
        while let Some(m) = msgs.next().await {
            let Ok(m) = m else { break };
            let Ok(seq) = m.info().map(|i| i.stream_sequence) else {
                continue;
            };
            n += 1;
            match wire::decode(&m.payload) {
                Ok(events) => {
                    self.report.events += events.len() as u64;
                    let det = &part.det;
                    if self.opts.window.is_off() {
                        // In the batch's order, as the window would release them.
                        let _ = det.observe_batch(&events);
                    } else {
                        for ev in events {
                            part.order.push(ev, (), |b, _| {
                                let _ = det.observe_batch(b);
                            });
                        }
                    }
                }
                Err(_) => self.report.malformed += 1,
            }
            part.seq = seq;
            part.dirty = true;
            last = Some(m);
        }
        // Released events are fed now, not when the window's batch fills.
        let det = &part.det;
        part.order.flush(|b, _| {
            let _ = det.observe_batch(b);
        });
        if n > 0 {
            part.fed_at = Instant::now();
            part.holding = true;
        }
        if let Some(m) = last {
            // Acknowledges every message up to it (the checkpoint, not the
            // acknowledgement, is where a restart goes on from).
            let _ = m.ack().await;
        }
        if n > 0 {
            self.write_decided(p).await;
        }
        Ok(n)
    }

    /// Feeds what the windows of partitions without events for the window's
    /// length hold, and writes what that decides.
    async fn release_idle(&mut self) {
        let idle = Duration::from_micros(self.opts.window.micros);
        let due: Vec<u32> = self
            .parts
            .iter()
            .filter(|(_, part)| part.holding && part.fed_at.elapsed() >= idle)
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            if let Some(part) = self.parts.get_mut(&p) {
                let det = &part.det;
                part.order.drain(|b, _| {
                    let _ = det.observe_batch(b);
                });
                part.holding = false;
                part.dirty = true;
            }
            self.write_decided(p).await;
        }
    }

    /// Writes the verdicts partition `p`'s detector decided, each unless its
    /// id was written before.
    async fn write_decided(&mut self, p: u32) {
        let Some(part) = self.parts.get(&p) else {
            return;
        };
        let ready = std::mem::take(&mut *part.decided.lock().unwrap_or_else(|e| e.into_inner()));
        for v in &ready {
            let id = verdict_id(v);
            if !self.first_write(id).await {
                self.report.skipped += 1;
                continue;
            }
            self.report.written += 1;
            (self.on_verdict)(v, id);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("{id:016x}").as_str());
            let json = sweepwatch::format::verdict_json(v);
            let _ = self
                .client
                .publish_with_headers(names::VERDICT_SUBJECT, headers, json.into())
                .await;
        }
    }

    /// True if verdict `id` was not written before (and is now marked so).
    /// A store that does not answer gets three tries; then the verdict is
    /// written anyway, since a verdict twice is better than none.
    async fn first_write(&self, id: u64) -> bool {
        for _ in 0..3 {
            match self
                .ids
                .create(format!("v{id:016x}"), bytes::Bytes::new())
                .await
            {
                Ok(_) => return true,
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => return false,
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        true
    }

    /// Writes partition `p`'s checkpoint.
    async fn checkpoint(&mut self, p: u32) -> Result<(), Error> {
        let Some(part) = self.parts.get_mut(&p) else {
            return Ok(());
        };
        let mut state = Vec::new();
        part.det
            .save(&mut state)
            .map_err(|e| Error::new(format!("partition {p}'s state: {e}")))?;
        let bytes = Checkpoint::encode(part.seq, &part.order.snapshot(), &state);
        let mut reader = &bytes[..];
        self.states
            .put(lease_key(p).as_str(), &mut reader)
            .await
            .map_err(|e| Error::new(format!("partition {p}'s checkpoint: {e}")))?;
        part.saved_at = Instant::now();
        part.dirty = false;
        self.report.checkpoints += 1;
        Ok(())
    }

    /// Checkpoints partition `p` and gives its lease back (without the
    /// checkpoint, if it cannot be written: the next owner replays more).
    async fn give_back(&mut self, p: u32) {
        if let Err(e) = self.checkpoint(p).await {
            self.warn(&e.to_string());
        }
        if let Some(part) = self.parts.remove(&p) {
            let _ = self.stream.delete_consumer(&consumer_name(p)).await;
            let _ = self
                .owners
                .delete_expect_revision(lease_key(p), Some(part.lease))
                .await;
        }
    }

    /// Gives every partition back, checkpointed; first, if `drain`, feeds
    /// their held events, ends every reported source's episode with its final
    /// extent ([`Detector::flush`]) and writes the verdicts.
    async fn stop(&mut self, drain: bool) {
        let owned: Vec<u32> = self.parts.keys().copied().collect();
        for p in owned {
            if let Some(part) = self.parts.get_mut(&p).filter(|_| drain) {
                let det = &part.det;
                part.order.drain(|b, _| {
                    let _ = det.observe_batch(b);
                });
                // The replay is over: each reported source's final extent.
                let _ = det.flush();
                part.dirty = true;
            }
            self.write_decided(p).await;
            self.give_back(p).await;
        }
        let _ = self.owners.delete(member_key(&self.opts.name)).await;
        let _ = self.client.flush().await;
    }
}
