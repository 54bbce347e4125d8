//! The JetStream names a deployment uses.

/// The stream of events, all partitions' subjects.
pub const EVENTS_STREAM: &str = "SWEEPWATCH_EVENTS";
/// Event subjects are this, a dot and the partition number.
pub const EVENTS_PREFIX: &str = "sweepwatch.ev";
/// Where aggregators publish verdicts (JSON, one a message, with a
/// `Nats-Msg-Id` header holding the verdict's id).
pub const VERDICT_SUBJECT: &str = "sweepwatch.verdicts";
/// The key-value bucket of the deployment's setup.
pub const SETUP_BUCKET: &str = "sweepwatch";
/// The setup's key in it.
pub const SETUP_KEY: &str = "setup";
/// The key-value bucket of partition leases: `p<N>` holds its owner.
pub const OWNERS_BUCKET: &str = "sweepwatch_owners";
/// The key-value bucket of verdict ids already written.
pub const VERDICTS_BUCKET: &str = "sweepwatch_verdicts";
/// The object store of partition checkpoints: `p<N>`.
pub const STATE_STORE: &str = "sweepwatch_state";
