//! JetStream's stores as a deployment uses them, made where missing.

use crate::{names, Error};
use async_nats::jetstream::{self, kv, object_store, stream};
use std::time::Duration;

/// How a deployment's streams and stores are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Copies of every stream and store (1 on a single server, 3 in a
    /// cluster of 3 for a node's loss).
    pub replicas: usize,
    /// The most bytes of events the stream keeps; the oldest go first.
    pub stream_bytes: i64,
    /// The oldest events the stream keeps.
    pub stream_age: Duration,
    /// How long a verdict's id is remembered against writing it twice.
    pub verdict_ids_age: Duration,
    /// How long a partition's lease lasts without renewal: an aggregator
    /// that stops has its partitions taken over after this.
    pub lease: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            replicas: 1,
            stream_bytes: 1 << 30,
            stream_age: Duration::from_secs(7 * 86_400),
            verdict_ids_age: Duration::from_secs(30 * 86_400),
            lease: Duration::from_secs(10),
        }
    }
}

/// The key-value bucket `bucket`, made if missing with `replicas` copies
/// (entries expire after `max_age`, unless it is zero).
pub(crate) async fn kv(
    js: &jetstream::Context,
    bucket: &str,
    replicas: usize,
    max_age: Duration,
) -> Result<kv::Store, Error> {
    if let Ok(s) = js.get_key_value(bucket).await {
        return Ok(s);
    }
    let config = kv::Config {
        bucket: bucket.to_string(),
        history: 1,
        max_age,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    match js.create_key_value(config).await {
        Ok(s) => Ok(s),
        // Made meanwhile by another process.
        Err(e) => js
            .get_key_value(bucket)
            .await
            .map_err(|_| Error::new(format!("key-value bucket {bucket}: {e}"))),
    }
}

/// The object store of checkpoints, made if missing.
pub(crate) async fn states(
    js: &jetstream::Context,
    limits: &Limits,
) -> Result<object_store::ObjectStore, Error> {
    if let Ok(s) = js.get_object_store(names::STATE_STORE).await {
        return Ok(s);
    }
    let config = object_store::Config {
        bucket: names::STATE_STORE.to_string(),
        num_replicas: limits.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    match js.create_object_store(config).await {
        Ok(s) => Ok(s),
        Err(e) => js
            .get_object_store(names::STATE_STORE)
            .await
            .map_err(|_| Error::new(format!("object store {}: {e}", names::STATE_STORE))),
    }
}

/// The events stream, made if missing with `limits`.
pub(crate) async fn events(
    js: &jetstream::Context,
    limits: &Limits,
) -> Result<stream::Stream, Error> {
    let config = stream::Config {
        name: names::EVENTS_STREAM.to_string(),
        subjects: vec![format!("{}.*", names::EVENTS_PREFIX)],
        retention: stream::RetentionPolicy::Limits,
        discard: stream::DiscardPolicy::Old,
        max_bytes: limits.stream_bytes,
        max_age: limits.stream_age,
        storage: stream::StorageType::File,
        num_replicas: limits.replicas,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| Error::new(format!("stream {}: {e}", names::EVENTS_STREAM)))
}

/// The streams behind a deployment's stream and stores, as JetStream names
/// them (a key-value bucket is the stream `KV_<bucket>`, an object store
/// `OBJ_<store>`).
pub(crate) fn all_streams() -> [String; 5] {
    [
        names::EVENTS_STREAM.to_string(),
        format!("KV_{}", names::SETUP_BUCKET),
        format!("KV_{}", names::OWNERS_BUCKET),
        format!("KV_{}", names::VERDICTS_BUCKET),
        format!("OBJ_{}", names::STATE_STORE),
    ]
}

/// Gives the stream `name` `replicas` copies if it has fewer (a sensor that
/// came first made it with one); never fewer. The copies it had before, if
/// it had fewer.
pub(crate) async fn raise_replicas(
    js: &jetstream::Context,
    name: &str,
    replicas: usize,
) -> Result<Option<usize>, Error> {
    let mut stream = js
        .get_stream(name)
        .await
        .map_err(|e| Error::new(format!("stream {name}: {e}")))?;
    let info = stream
        .info()
        .await
        .map_err(|e| Error::new(format!("stream {name}: {e}")))?;
    let had = info.config.num_replicas;
    if had >= replicas {
        return Ok(None);
    }
    let mut config = info.config.clone();
    config.num_replicas = replicas;
    js.update_stream(config).await.map_err(|e| {
        Error::new(format!(
            "stream {name}: {had} copies, not raised to {replicas}: {e}"
        ))
    })?;
    Ok(Some(had))
}
