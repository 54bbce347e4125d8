//! # sweepwatch
//!
//! Finds hosts that sweep or scan networks, from one connection event at a time,
//! in fixed memory and without allocating per event:
//!
//! - **port sweeps**: one port (or a few) probed across many hosts;
//! - **port scans**: many ports of one host;
//! - **outbound sweeps**: a home host whose first contacts to external hosts
//!   mostly fail, the mark of a bot or worm looking for victims;
//! - **ICMP sweeps**: echo requests across many hosts.
//!
//! Each source's first contacts (distinct target and port) feed a sequential
//! hypothesis test, Threshold Random Walk (Jung et al., 2004): a failure
//! multiplies the odds of "scanner" by 4, a success divides them by 4, and the
//! test decides at odds of 99:1, after four or five failed contacts. SmallEvidence
//! per-source bitmaps estimate how many hosts and ports were probed, which names
//! the kind of reconnaissance.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use sweepwatch::{Config, Detector, Event, Kind, Outcome, Protocol, Timestamp};
//!
//! let verdicts = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&verdicts);
//! let det = Detector::new(Config::default(), move |v| sink.lock().unwrap().push(*v)).unwrap();
//! for port in 1..=100u16 {
//!     det.observe(&Event::new(Timestamp::from_secs(1_700_000_000),
//!         "198.51.100.4".parse().unwrap(), "192.168.1.10".parse().unwrap(),
//!         port, Protocol::Tcp, Outcome::Refused)).unwrap();
//! }
//! // Decided at the fifth refused port, reported again when the scan grew tenfold.
//! let v = verdicts.lock().unwrap();
//! assert_eq!(v.len(), 2);
//! assert_eq!((v[0].kind, v[0].ports_count), (Kind::PortScan, 5));
//! assert_eq!((v[1].kind, v[1].ports_count), (Kind::PortScan, 50));
//! ```
#![deny(missing_docs)]

mod config;
mod detector;
mod distinct;
mod error;
mod event;
mod evidence;
mod evidence_pool;
mod first_contact;
mod first_contacts;
pub mod format;
mod hash;
mod net;
pub mod order;
mod prefetch;
mod probe;
mod shard;
mod size;
mod small_evidence;
mod staged;
mod stats;
mod table;
pub mod tcp;
mod top_ports;
mod verdict;
mod zeroed;

pub use config::{
    AllowRule, Config, DEFAULT_HOME_NETWORKS, DEFAULT_IGNORE_NETWORKS, DEFAULT_REPLY_PORTS,
};
pub use detector::Detector;
pub use error::{panic_message, Error};
pub use event::{Event, KeyedEvent, Outcome, Protocol, Technique, Timestamp};
pub use first_contacts::FirstContacts;
pub use net::{AddrKey, Cidr, CidrError};
pub use size::parse_size;
pub use staged::Staged;
pub use stats::Stats;
pub use verdict::{Direction, Kind, Verdict, MAX_VERDICT_PORTS, MAX_VERDICT_SAMPLE};
