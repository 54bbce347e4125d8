//! pcap and pcapng captures: packets to attempts and outcomes. (placeholder: being written)

use super::{Emit, InputError, ReadStats};
use std::io::Read;

/// Timeouts and bounds of the flow tracker.
#[derive(Clone, Debug)]
pub struct PcapOptions {
    /// Seconds of capture time after which an unanswered TCP SYN is `Unanswered`.
    pub tcp_timeout_secs: u32,
    /// The same for a UDP datagram.
    pub udp_timeout_secs: u32,
    /// The same for an ICMP echo request.
    pub icmp_timeout_secs: u32,
    /// The most probes awaiting an answer at once.
    pub max_flows: usize,
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions { tcp_timeout_secs: 5, udp_timeout_secs: 5, icmp_timeout_secs: 5, max_flows: 1 << 20 }
    }
}

/// Reads a decompressed pcap or pcapng stream and emits one event per probe and
/// one per outcome.
pub fn read_capture<R: Read>(_r: R, _opts: &PcapOptions, _emit: Emit) -> Result<ReadStats, InputError> {
    unimplemented!("placeholder")
}
