//! What every sensor and aggregator of one deployment must agree on: how
//! many partitions there are, the secret that spreads sources over them,
//! and the size of each partition's detector. Kept in JetStream's key-value
//! store, made by whoever comes first.

use crate::names;
use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::net::IpAddr;
use std::time::Duration;
use sweepwatch::AddrKey;

/// A deployment's fixed settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setup {
    /// The event batch format ([`wire::FORMAT`](crate::wire::FORMAT)) the
    /// deployment was made with.
    pub format: u16,
    /// How many partitions sources are spread over (`sweepwatch.ev.0` up to
    /// `sweepwatch.ev.<partitions - 1>`).
    pub partitions: u32,
    /// The secret keys of the partition hash and of each partition's
    /// detector: whoever does not know them cannot aim sources at one
    /// partition or one detector's bucket.
    pub keys: [u64; 2],
    /// The memory of each partition's detector (its saved state's size).
    pub partition_memory: u64,
}

/// The partitions and memory a deployment gets when nobody says otherwise.
pub const DEFAULT_PARTITIONS: u32 = 8;
/// 16 MiB a partition: 128 MiB for the default 8.
pub const DEFAULT_PARTITION_MEMORY: u64 = 16 << 20;

impl Setup {
    /// A new deployment's settings, with fresh random keys.
    ///
    /// # Examples
    /// ```
    /// let s = sweepwatch_nats::Setup::new(8, 16 << 20);
    /// let p = s.partition_of("203.0.113.7".parse().unwrap(), 0);
    /// assert!(p < 8);
    /// // Every sensor of the deployment puts a source in the same partition.
    /// assert_eq!(p, s.clone().partition_of("203.0.113.7".parse().unwrap(), 0));
    /// ```
    pub fn new(partitions: u32, partition_memory: u64) -> Setup {
        let random = std::collections::hash_map::RandomState::new();
        let key = |i: u64| std::hash::BuildHasher::hash_one(&random, (i, std::process::id()));
        Setup {
            format: crate::wire::FORMAT,
            partitions: partitions.max(1),
            keys: [key(1), key(2)],
            partition_memory,
        }
    }

    /// The partition of a source: a keyed SipHash-1-3 of its address and
    /// zone, which every build and platform computes alike.
    pub fn partition_of(&self, src: IpAddr, zone: u32) -> u32 {
        let mut h = SipHasher13::new_with_keys(self.keys[0], self.keys[1]);
        h.write(&AddrKey::from(src).bits().to_le_bytes());
        h.write_u32(zone);
        ((u128::from(h.finish()) * u128::from(self.partitions)) >> 64) as u32
    }

    /// The hash seed of partition `p`'s detector: secret, as the keys, and
    /// the same for every aggregator that takes the partition over, so that
    /// a replay places every source where it was.
    pub fn seed_of(&self, p: u32) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.keys[1], self.keys[0]);
        h.write(b"detector");
        h.write_u32(p);
        h.finish()
    }

    /// The subject partition `p`'s events are published on.
    pub fn subject(p: u32) -> String {
        format!("{}.{p}", names::EVENTS_PREFIX)
    }
}

/// The deployment's settings from the key-value store, written there first
/// as `wanted` if there are none yet (two that race agree on the first).
///
/// # Errors
/// The store cannot be reached, or holds settings this build cannot use.
pub(crate) async fn fetch_or_create(
    js: &async_nats::jetstream::Context,
    wanted: &Setup,
    replicas: usize,
) -> Result<Setup, crate::Error> {
    let kv = crate::store::kv(js, names::SETUP_BUCKET, replicas, Duration::ZERO).await?;
    let text = serde_json::to_vec(wanted).map_err(|e| crate::Error::new(e.to_string()))?;
    // Only the first writer's create succeeds; everyone reads what it wrote.
    let _ = kv.create(names::SETUP_KEY, text.into()).await;
    let got = kv
        .get(names::SETUP_KEY)
        .await
        .map_err(|e| crate::Error::new(format!("reading the deployment's setup: {e}")))?
        .ok_or_else(|| crate::Error::new("the deployment's setup vanished".to_string()))?;
    let setup: Setup = serde_json::from_slice(&got)
        .map_err(|e| crate::Error::new(format!("the deployment's setup: {e}")))?;
    if setup.format != crate::wire::FORMAT {
        return Err(crate::Error::new(format!(
            "the deployment uses event format {}; this sweepwatch writes format {}",
            setup.format,
            crate::wire::FORMAT
        )));
    }
    if setup.partitions == 0 {
        return Err(crate::Error::new(
            "the deployment's setup has no partitions",
        ));
    }
    Ok(setup)
}
