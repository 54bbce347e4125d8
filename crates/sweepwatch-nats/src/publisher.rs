//! A sensor's side: its first contacts, in batches, on each source's
//! partition subject.

use crate::setup::{self, Setup};
use crate::store::{self, Limits};
use crate::{wire, Error};
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sweepwatch::{Event, FirstContacts, KeyedEvent};
use tokio::sync::mpsc;

/// How a [`Publisher`] connects and batches.
#[derive(Clone, Debug)]
pub struct PublisherOptions {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The connection's name, as the server lists it (the sensor's name).
    pub name: String,
    /// The setup a new deployment gets if this sensor is its first process;
    /// otherwise the deployment's own is used.
    pub setup: Setup,
    /// Streams and stores made by this sensor if it is the first.
    pub limits: Limits,
    /// The sensor's first-contact filter's bytes.
    pub filter_bytes: u64,
    /// Its dedup period (the detector's `dedup_secs`).
    pub dedup_secs: u64,
    /// Events a batch holds at most.
    pub batch_events: usize,
    /// The longest an event waits in a batch that is not full, checked as
    /// events come and at [`Publisher::tick`].
    pub max_delay: Duration,
    /// Batches waiting to be published at most; more are dropped (and
    /// counted) rather than slow the sensor down.
    pub queue_batches: usize,
}

impl PublisherOptions {
    /// Defaults for the server at `url`: 256 events a batch, 100 ms at most
    /// in a batch, 4 MiB of filter, 1,024 batches queued.
    pub fn new(url: &str) -> PublisherOptions {
        PublisherOptions {
            url: url.to_string(),
            name: "sweepwatch sensor".to_string(),
            setup: Setup::new(setup::DEFAULT_PARTITIONS, setup::DEFAULT_PARTITION_MEMORY),
            limits: Limits::default(),
            filter_bytes: 4 << 20,
            dedup_secs: 1800,
            batch_events: 256,
            max_delay: Duration::from_millis(100),
            queue_batches: 1024,
        }
    }
}

/// What a [`Publisher`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Events given to [`Publisher::push`].
    pub events: u64,
    /// Of those, settled by the sensor's filter (repeats, unsolicited) and
    /// not sent.
    pub repeats: u64,
    /// Events the server stored (acknowledged).
    pub published: u64,
    /// Batches the server stored.
    pub batches: u64,
    /// Bytes of the batches the server stored.
    pub bytes: u64,
    /// Events dropped: the queue was full, or the server refused or did not
    /// acknowledge their batch in time.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
}

struct Batch {
    partition: u32,
    events: usize,
    bytes: Vec<u8>,
}

/// Publishes a sensor's first contacts for the deployment's aggregators.
/// Events are partitioned by a keyed hash of their source, batched per
/// partition, and published from a thread of its own; [`push`](Self::push)
/// never waits for the network.
pub struct Publisher {
    setup: Setup,
    filter: FirstContacts,
    pending: Vec<Vec<Event>>,
    since: Vec<Option<Instant>>,
    opts: PublisherOptions,
    tx: Option<mpsc::Sender<Batch>>,
    thread: Option<std::thread::JoinHandle<()>>,
    counters: Arc<Counters>,
    events: u64,
    repeats: u64,
    queue_full: u64,
    /// Events of the batches handed to the publishing thread.
    handed: u64,
}

impl Publisher {
    /// Connects, reads (or makes) the deployment's setup and the events
    /// stream, and starts the publishing thread.
    ///
    /// # Errors
    /// The server cannot be reached, or its setup cannot be used.
    pub fn connect(opts: PublisherOptions) -> Result<Publisher, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::new(format!("starting the publisher: {e}")))?;
        let (client, setup) = rt.block_on(async {
            let client = crate::connect(&opts.url, &opts.name).await?;
            let js = async_nats::jetstream::new(client.clone());
            // A cluster electing a leader (a node lost) answers JetStream
            // requests again within seconds: try for 15.
            let mut tries = 0;
            loop {
                let opened = async {
                    let setup =
                        setup::fetch_or_create(&js, &opts.setup, opts.limits.replicas).await?;
                    store::events(&js, &opts.limits).await?;
                    Ok::<_, Error>(setup)
                };
                match opened.await {
                    Ok(setup) => return Ok::<_, Error>((client, setup)),
                    Err(e) if tries >= 15 => return Err(e),
                    Err(_) => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        })?;
        let filter = FirstContacts::new(opts.filter_bytes, opts.dedup_secs)
            .map_err(|e| Error::new(e.to_string()))?;
        let (tx, rx) = mpsc::channel(opts.queue_batches.max(1));
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("sweepwatch-publish".into())
            .spawn(move || rt.block_on(send(client, rx, c)))
            .map_err(|e| Error::new(format!("starting the publisher: {e}")))?;
        let n = setup.partitions as usize;
        Ok(Publisher {
            // Reused batch after batch: pushing an event never allocates.
            pending: (0..n)
                .map(|_| Vec::with_capacity(opts.batch_events.max(1)))
                .collect(),
            since: vec![None; n],
            setup,
            filter,
            opts,
            tx: Some(tx),
            thread: Some(thread),
            counters,
            events: 0,
            repeats: 0,
            queue_full: 0,
            handed: 0,
        })
    }

    /// The deployment's setup.
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// Publishes `ev` if the sensor's filter finds it new (see
    /// [`FirstContacts`]), in its partition's next batch.
    pub fn push(&mut self, ev: &Event) {
        self.events += 1;
        if !self.filter.is_new(&KeyedEvent::from(ev)) {
            self.repeats += 1;
            return;
        }
        let p = self.setup.partition_of(ev.src, ev.zone) as usize;
        if self.pending[p].is_empty() {
            self.since[p] = Some(Instant::now());
        }
        self.pending[p].push(*ev);
        if self.pending[p].len() >= self.opts.batch_events {
            self.send(p);
        }
        if self.events % 1024 == 0 {
            self.tick();
        }
    }

    /// Sends every batch that has waited `max_delay`: for callers whose
    /// events may pause (a followed log).
    pub fn tick(&mut self) {
        let now = Instant::now();
        for p in 0..self.pending.len() {
            if self.since[p].is_some_and(|t| now.duration_since(t) >= self.opts.max_delay) {
                self.send(p);
            }
        }
    }

    fn send(&mut self, p: usize) {
        self.since[p] = None;
        let n = self.pending[p].len();
        if n == 0 {
            return;
        }
        let batch = Batch {
            partition: p as u32,
            events: n,
            bytes: wire::encode(&self.pending[p]),
        };
        self.pending[p].clear();
        let sent = self.tx.as_ref().map(|tx| tx.try_send(batch));
        if matches!(sent, Some(Ok(()))) {
            self.handed += n as u64;
        } else {
            self.queue_full += n as u64;
        }
    }

    /// Sends every partition's pending batch.
    fn send_all(&mut self) {
        for p in 0..self.pending.len() {
            self.send(p);
        }
    }

    /// What was done so far (publishing goes on behind).
    pub fn stats(&self) -> PublishStats {
        PublishStats {
            events: self.events,
            repeats: self.repeats,
            published: self.counters.published.load(Relaxed),
            batches: self.counters.batches.load(Relaxed),
            bytes: self.counters.bytes.load(Relaxed),
            dropped: self.queue_full + self.counters.failed.load(Relaxed),
        }
    }

    /// Sends what is pending and waits, at most `limit`, until the server
    /// has acknowledged every batch sent so far (or the publisher gave it
    /// up); publishing goes on afterwards. True if nothing is left waiting.
    pub fn flush(&mut self, limit: Duration) -> bool {
        self.send_all();
        let until = Instant::now() + limit;
        loop {
            let settled =
                self.counters.published.load(Relaxed) + self.counters.failed.load(Relaxed);
            if settled >= self.handed {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends what is pending, waits until the server has acknowledged every
    /// batch (or failed to), and says what was done.
    pub fn finish(mut self) -> PublishStats {
        self.send_all();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A batch's headers: its message id, by which JetStream keeps one copy of
/// a batch sent twice.
fn headers(id: &str) -> async_nats::HeaderMap {
    let mut h = async_nats::HeaderMap::new();
    h.insert("Nats-Msg-Id", id);
    h
}

/// The publishing thread: publishes batches as they come, in order, with
/// up to 256 awaiting acknowledgement, until the channel closes and every
/// one is acknowledged or given up. A batch the server did not acknowledge (a cluster electing a
/// new leader, a reconnection) is tried up to four times, half a second,
/// one and two seconds apart, under the same message id, so that the stream keeps one
/// copy if an earlier try was stored after all.
async fn send(client: async_nats::Client, mut rx: mpsc::Receiver<Batch>, c: Arc<Counters>) {
    let js = async_nats::jetstream::new(client);
    // Message ids: this publisher's own prefix and a batch number.
    let prefix = format!(
        "{:x}",
        std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::process::id()
        )
    );
    let mut acks = FuturesUnordered::new();
    let mut number = 0u64;
    loop {
        tokio::select! {
            Some(()) = acks.next(), if !acks.is_empty() => {}
            batch = rx.recv(), if acks.len() < 256 => {
                let Some(b) = batch else { break };
                number += 1;
                let id = format!("{prefix}-{number}");
                let subject = Setup::subject(b.partition);
                let (n, size) = (b.events as u64, b.bytes.len() as u64);
                let payload = bytes::Bytes::from(b.bytes);
                // The first try is sent here, in the order batches came.
                let first = js
                    .publish_with_headers(subject.clone(), headers(&id), payload.clone())
                    .await;
                let (js, c) = (js.clone(), Arc::clone(&c));
                acks.push(async move {
                    let stored = match first {
                        Ok(ack) => ack.await.is_ok(),
                        Err(_) => false,
                    };
                    let mut stored = stored;
                    let mut wait = Duration::from_millis(500);
                    for _ in 0..3 {
                        if stored {
                            break;
                        }
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                        if let Ok(ack) = js
                            .publish_with_headers(subject.clone(), headers(&id), payload.clone())
                            .await
                        {
                            stored = ack.await.is_ok();
                        }
                    }
                    if stored {
                        c.published.fetch_add(n, Relaxed);
                        c.batches.fetch_add(1, Relaxed);
                        c.bytes.fetch_add(size, Relaxed);
                    } else {
                        c.failed.fetch_add(n, Relaxed);
                    }
                });
            }
        }
    }
    while acks.next().await.is_some() {}
}
