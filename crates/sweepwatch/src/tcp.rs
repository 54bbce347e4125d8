//! TCP header flag bits, as every reader of TCP segments and
//! [`Technique::from_tcp_flags`](crate::Technique::from_tcp_flags) name them.
//!
//! ```
//! use sweepwatch::tcp;
//! use sweepwatch::Technique;
//!
//! assert_eq!(Technique::from_tcp_flags(tcp::SYN), Some(Technique::Syn));
//! assert_eq!(Technique::from_tcp_flags(tcp::SYN | tcp::ACK), None);
//! ```

/// No more data from the sender.
pub const FIN: u8 = 0x01;
/// Synchronize sequence numbers: opens a connection.
pub const SYN: u8 = 0x02;
/// Reset the connection.
pub const RST: u8 = 0x04;
/// Push the data to the application.
pub const PSH: u8 = 0x08;
/// The acknowledgment number is valid.
pub const ACK: u8 = 0x10;
/// The urgent pointer is valid.
pub const URG: u8 = 0x20;
