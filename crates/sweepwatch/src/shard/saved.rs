//! A shard as a saved state holds it: its small fields in a [`ShardHead`],
//! and its table, filter, pages and port maps as they lie in memory.

use super::{Shard, ShardCounts};
use crate::evidence_pool::PoolLists;
use crate::first_contact::FilterClock;
use serde::{Deserialize, Serialize};

/// Everything of a shard but its large arrays.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShardHead {
    epoch: Option<u64>,
    second: (u64, u64),
    now: u32,
    counts: ShardCounts,
    table_buckets: u64,
    filter: FilterClock,
    pool: PoolLists,
}

impl Shard {
    /// The shard's small fields, to save.
    pub(crate) fn head(&self) -> ShardHead {
        ShardHead {
            epoch: self.epoch,
            second: self.second,
            now: self.now,
            counts: self.c,
            table_buckets: self.table.geometry().1,
            filter: self.filter.clock(),
            pool: self.pool.lists(),
        }
    }

    /// The table, the filter's blocks, the pool's pages and its port maps,
    /// as bytes, in the order a state holds them.
    pub(crate) fn arrays(&self) -> [&[u8]; 4] {
        let [pages, maps] = self.pool.as_bytes();
        [self.table.as_bytes(), self.filter.as_bytes(), pages, maps]
    }

    /// [`arrays`](Self::arrays), to restore into.
    pub(crate) fn arrays_mut(&mut self) -> [&mut [u8]; 4] {
        let [pages, maps] = self.pool.as_bytes_mut();
        [
            self.table.as_bytes_mut(),
            self.filter.as_bytes_mut(),
            pages,
            maps,
        ]
    }

    /// Takes the small fields saved from a shard of the same layout, once
    /// its arrays are restored, checking that every link between table and
    /// pool stays in range.
    ///
    /// # Errors
    /// What does not fit.
    pub(crate) fn set_head(&mut self, h: ShardHead) -> Result<(), &'static str> {
        if h.table_buckets != self.table.geometry().1 {
            return Err("its table has another size");
        }
        self.filter.set_clock(&h.filter)?;
        let records = self.table.capacity();
        self.pool.set_lists(h.pool, records)?;
        let linked = (0..records)
            .filter_map(|i| self.table.get(i).evidence)
            .all(|id| self.pool.holds(id));
        if !linked {
            return Err("a source's record names evidence outside the pool");
        }
        self.epoch = h.epoch;
        self.second = h.second;
        self.now = h.now;
        self.c = h.counts;
        Ok(())
    }
}
