//! # sweepwatch-nats
//!
//! Per-source detection across many sensors, on NATS JetStream. Behind a
//! packet broker that spreads flows over N sensors, each sees about 1/N of
//! a scanner's probes; here every sensor publishes its first contacts,
//! partitioned by a keyed hash of the source, and aggregators each run one
//! [`sweepwatch::Detector`] per partition they own, so that a source's
//! probes from every sensor meet in one detector.
//!
//! - [`Publisher`]: a sensor's side. Events pass the sensor's own
//!   [`sweepwatch::FirstContacts`] filter and go out in batches
//!   ([`wire`]) on `sweepwatch.ev.<partition>`. A sensor that cannot
//!   publish keeps detecting locally and counts what it dropped.
//! - [`aggregate`]: an aggregator. It takes partitions by lease (a
//!   key-value entry that expires unless renewed), loads each one's
//!   checkpoint (the detector's saved state, its ordering window and the
//!   stream sequence they cover), replays the stream from there, and
//!   checkpoints as it goes, so a restart or a takeover loses no event.
//!   Each verdict has an id ([`verdict_id`]); one already written is
//!   skipped, so none is written twice.
//!
//! The names of the stream and stores are in [`names`]; the settings every
//! process of a deployment shares in [`Setup`].
#![deny(missing_docs)]

mod aggregator;
mod checkpoint;
pub mod names;
mod publisher;
mod setup;
mod store;
mod verdict_id;
pub mod wire;

pub use aggregator::{aggregate, AggregateOptions, AggregateReport};
pub use publisher::{PublishStats, Publisher, PublisherOptions};
pub use setup::{Setup, DEFAULT_PARTITIONS, DEFAULT_PARTITION_MEMORY};
pub use store::Limits;
pub use verdict_id::verdict_id;

/// What went wrong talking to NATS, or with what it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    pub(crate) fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// Connects to the NATS server at `url` (e.g. `nats://127.0.0.1:4222`), or
/// to any of a cluster's servers, listed with commas.
pub(crate) async fn connect(url: &str, name: &str) -> Result<async_nats::Client, Error> {
    let servers: Vec<&str> = url.split(',').map(str::trim).collect();
    async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(std::time::Duration::from_secs(5))
        .max_reconnects(None)
        .connect(servers)
        .await
        .map_err(|e| Error::new(format!("{url}: {e}")))
}
