//! Readers that turn captures and engine logs into the core's [`Event`]s.
//!
//! Adapters only: they depend on the core, never the reverse. Each reader calls
//! `emit` once per event, in input order, and counts what it read and skipped.

use crate::Event;
use std::fmt;

pub mod eve;
pub mod pcap;

/// What a reader got through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records (packets, log lines) read.
    pub records: u64,
    /// Records skipped as malformed or irrelevant to detection.
    pub skipped: u64,
    /// Malformed records among the skipped ones.
    pub malformed: u64,
    /// Events emitted.
    pub events: u64,
    /// Byte offset where a capture ended inside a record, if it did: the events
    /// before it were emitted.
    pub truncated_at: Option<u64>,
}

/// A reader's failure: where in the input, and what.
#[derive(Debug)]
pub struct InputError {
    /// Where the reader stopped: `byte 1234` or `line 56`.
    pub location: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for InputError {}

/// The sink readers emit into.
pub type Emit<'a> = &'a mut dyn FnMut(Event);
