//! The names of the C enums' values, as the JSON contract writes them, and
//! the library's version as a number: what a C program needs to print a
//! verdict or refuse a mismatched library without tables of its own.

use super::event::{sw_outcome, sw_protocol, sw_technique};
use super::panic;
use super::verdict::{sw_direction, sw_kind};
use super::{SW_VERSION_MAJOR, SW_VERSION_MINOR, SW_VERSION_PATCH};
use std::ffi::{c_char, CStr};
use std::ptr;

/// The version of the library this header belongs to as one number,
/// MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 is 100). Compare it with
/// sw_version_number(): before 1.0 a minor release may change the ABI, so a
/// program refuses a library whose major or minor number differs:
/// `if (sw_version_number() / 100 != SW_VERSION_NUMBER / 100)`.
pub const SW_VERSION_NUMBER: u32 = 100;

const _: () = assert!(
    SW_VERSION_NUMBER == SW_VERSION_MAJOR * 10_000 + SW_VERSION_MINOR * 100 + SW_VERSION_PATCH,
    "update SW_VERSION_NUMBER in src/names.rs with SW_VERSION_*"
);

/// The version of the library loaded, as SW_VERSION_NUMBER writes it.
/// Thread-safe.
///
/// ```c
/// if (sw_version_number() / 100 != SW_VERSION_NUMBER / 100) {
///     fprintf(stderr, "libsweepwatch %s, built for %d.%d\n", sw_version(),
///             SW_VERSION_MAJOR, SW_VERSION_MINOR);
///     return 1;
/// }
/// ```
#[no_mangle]
pub extern "C" fn sw_version_number() -> u32 {
    SW_VERSION_NUMBER
}

/// A name from the table, or NULL for a value outside its enum.
fn name(n: Option<&'static CStr>) -> *const c_char {
    panic::boundary_ptr(|| n.map_or(ptr::null(), CStr::as_ptr))
}

/// The name of an sw_kind value as verdicts' JSON writes it ("port_sweep",
/// "port_scan", "outbound_sweep", "icmp_sweep"), or NULL for a value that
/// is no sw_kind. A static string, never to be freed. Thread-safe.
#[no_mangle]
pub extern "C" fn sw_kind_name(kind: u8) -> *const c_char {
    name(sw_kind::try_from(kind).ok().map(|k| match k {
        sw_kind::PortSweep => c"port_sweep",
        sw_kind::PortScan => c"port_scan",
        sw_kind::OutboundSweep => c"outbound_sweep",
        sw_kind::IcmpSweep => c"icmp_sweep",
    }))
}

/// The name of an sw_direction value ("outbound", "inbound", "internal",
/// "external"), or NULL for a value that is no sw_direction. As
/// sw_kind_name().
#[no_mangle]
pub extern "C" fn sw_direction_name(direction: u8) -> *const c_char {
    name(sw_direction::try_from(direction).ok().map(|d| match d {
        sw_direction::Outbound => c"outbound",
        sw_direction::Inbound => c"inbound",
        sw_direction::Internal => c"internal",
        sw_direction::External => c"external",
    }))
}

/// The name of an sw_protocol value ("tcp", "udp", "icmp", "other"), or
/// NULL for a value that is no sw_protocol. As sw_kind_name().
#[no_mangle]
pub extern "C" fn sw_protocol_name(proto: u8) -> *const c_char {
    name(sw_protocol::try_from(proto).ok().map(|p| match p {
        sw_protocol::Tcp => c"tcp",
        sw_protocol::Udp => c"udp",
        sw_protocol::Icmp => c"icmp",
        sw_protocol::Other => c"other",
    }))
}

/// The name of an sw_outcome value ("attempt", "established", "refused",
/// "unanswered", "unsolicited"), or NULL for a value that is no sw_outcome.
/// As sw_kind_name().
#[no_mangle]
pub extern "C" fn sw_outcome_name(outcome: u8) -> *const c_char {
    name(sw_outcome::try_from(outcome).ok().map(|o| match o {
        sw_outcome::Attempt => c"attempt",
        sw_outcome::Established => c"established",
        sw_outcome::Refused => c"refused",
        sw_outcome::Unanswered => c"unanswered",
        sw_outcome::Unsolicited => c"unsolicited",
    }))
}

/// The name of an sw_technique value as verdicts' JSON writes it ("syn",
/// "connect", "fin", "null", "xmas", "maimon", "ack", "tcp_other", "udp",
/// "icmp_echo", "ip_protocol"; "default" for SW_TECHNIQUE_DEFAULT, which only
/// events carry), or NULL for a value that is no sw_technique. As
/// sw_kind_name().
#[no_mangle]
pub extern "C" fn sw_technique_name(technique: u8) -> *const c_char {
    name(sw_technique::try_from(technique).ok().map(|t| match t {
        sw_technique::Default => c"default",
        sw_technique::Syn => c"syn",
        sw_technique::Connect => c"connect",
        sw_technique::Fin => c"fin",
        sw_technique::Null => c"null",
        sw_technique::Xmas => c"xmas",
        sw_technique::Maimon => c"maimon",
        sw_technique::Ack => c"ack",
        sw_technique::TcpOther => c"tcp_other",
        sw_technique::Udp => c"udp",
        sw_technique::IcmpEcho => c"icmp_echo",
        sw_technique::IpProtocol => c"ip_protocol",
    }))
}
