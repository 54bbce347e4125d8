//! `sw_verdict_to_json`: a verdict in the JSON contract, written by the
//! library's one serializer (`sweepwatch::format::verdict_json`), so a C
//! program's records are byte for byte those of `sweepwatch detect --json`.

use super::event::{protocol, sw_technique, SW_FAMILY_IPV4, SW_FAMILY_IPV6};
use super::ffi::null;
use super::panic;
use super::result::{fail, sw_result};
use super::verdict::{sw_direction, sw_kind, sw_verdict};
use std::ffi::c_char;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use sweepwatch::{Direction, Kind, Timestamp, Verdict, MAX_VERDICT_PORTS, MAX_VERDICT_SAMPLE};

/// Bytes that hold the JSON of any verdict and its NUL: a buffer of this size
/// never gets SW_RESULT_INSUFFICIENT_SIZE from sw_verdict_to_json().
pub const SW_VERDICT_JSON_MAX: usize = 1024;

/// An address of a verdict's struct, or why it is none.
fn addr(family: u8, bytes: &[u8; 16], field: &str) -> Result<IpAddr, String> {
    match family {
        SW_FAMILY_IPV4 => Ok(IpAddr::V4(Ipv4Addr::new(
            bytes[0], bytes[1], bytes[2], bytes[3],
        ))),
        SW_FAMILY_IPV6 => Ok(IpAddr::V6(Ipv6Addr::from(*bytes))),
        f => Err(format!(
            "sw_verdict.{field} family {f} is not SW_FAMILY_IPV4 or SW_FAMILY_IPV6"
        )),
    }
}

impl TryFrom<&sw_verdict> for Verdict {
    type Error = String;

    /// The core's verdict for a C one, or which field holds a value outside
    /// its type (a struct the caller built or changed).
    fn try_from(c: &sw_verdict) -> Result<Verdict, String> {
        let kind = match sw_kind::try_from(c.kind) {
            Ok(sw_kind::PortSweep) => Kind::PortSweep,
            Ok(sw_kind::PortScan) => Kind::PortScan,
            Ok(sw_kind::OutboundSweep) => Kind::OutboundSweep,
            Ok(sw_kind::IcmpSweep) => Kind::IcmpSweep,
            Err(_) => return Err(format!("sw_verdict.kind {} is no sw_kind", c.kind)),
        };
        let direction = match sw_direction::try_from(c.direction) {
            Ok(sw_direction::Outbound) => Direction::Outbound,
            Ok(sw_direction::Inbound) => Direction::Inbound,
            Ok(sw_direction::Internal) => Direction::Internal,
            Ok(sw_direction::External) => Direction::External,
            Err(_) => {
                return Err(format!(
                    "sw_verdict.direction {} is no sw_direction",
                    c.direction
                ))
            }
        };
        let proto = protocol(c.proto)
            .ok_or_else(|| format!("sw_verdict.proto {} is no sw_protocol", c.proto))?;
        let technique = sw_technique::try_from(c.technique)
            .ok()
            .and_then(Option::from)
            .ok_or_else(|| format!("sw_verdict.technique {} is no technique", c.technique))?;
        if usize::from(c.n_ports) > MAX_VERDICT_PORTS {
            return Err(format!(
                "sw_verdict.n_ports {} is over {MAX_VERDICT_PORTS}",
                c.n_ports
            ));
        }
        if usize::from(c.n_sample) > MAX_VERDICT_SAMPLE {
            return Err(format!(
                "sw_verdict.n_sample {} is over {MAX_VERDICT_SAMPLE}",
                c.n_sample
            ));
        }
        if c.is_final > 1 {
            return Err(format!("sw_verdict.is_final {} is not 0 or 1", c.is_final));
        }
        let mut v = Verdict::empty();
        v.kind = kind;
        v.src = addr(c.src_family, &c.src_addr, "src_addr")?;
        v.direction = direction;
        v.proto = proto;
        v.port_list = c.ports;
        v.n_ports = c.n_ports;
        v.targets = c.targets;
        v.ports_count = c.ports_count;
        v.failed = c.failed;
        v.succeeded = c.succeeded;
        v.unanswered = c.unanswered;
        v.probes = c.probes;
        v.first_seen = Timestamp::from_micros(c.first_seen_us);
        v.ts = Timestamp::from_micros(c.ts_us);
        for i in 0..usize::from(c.n_sample) {
            let field = format!("sample_addrs[{i}]");
            v.sample_list[i] = addr(c.sample_families[i], &c.sample_addrs[i], &field)?;
        }
        v.n_sample = c.n_sample;
        v.score = c.score;
        v.technique = technique;
        v.is_final = c.is_final == 1;
        v.zone = c.zone;
        Ok(v)
    }
}

/// Writes `verdict` as one line of the JSON contract (no newline), exactly as
/// `sweepwatch detect --json` writes it, then a NUL, into `buf` (`cap`
/// bytes); `*len_out`, if not NULL, receives its length without the NUL.
/// A buffer of SW_VERDICT_JSON_MAX bytes always suffices.
///
/// ```c
/// static void on_verdict(void *user, const sw_verdict *v) {
///     char json[SW_VERDICT_JSON_MAX];
///     if (sw_verdict_to_json(v, json, sizeof json, NULL) == SW_RESULT_OK)
///         fprintf((FILE *)user, "%s\n", json);
/// }
/// ```
///
/// Returns SW_RESULT_INSUFFICIENT_SIZE if the JSON and its NUL do not fit:
/// nothing is written to `buf`, and `*len_out` receives the JSON's length
/// (`buf` NULL with `cap` 0 asks for it). SW_RESULT_NULL_PARAMETER if
/// `verdict` is NULL or `buf` is NULL with `cap` above 0;
/// SW_RESULT_INVALID_ARGUMENT if a field holds a value outside its type (a
/// struct the caller built: sw_result_message() names the field).
/// Allocates; thread-safe; may be called from a verdict callback.
///
/// # Safety
/// `verdict` must be NULL or point to an sw_verdict; `buf` NULL or `cap`
/// writable bytes; `len_out` NULL or a writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn sw_verdict_to_json(
    verdict: *const sw_verdict,
    buf: *mut c_char,
    cap: usize,
    len_out: *mut usize,
) -> sw_result {
    panic::run(|| {
        if verdict.is_null() {
            return Err(null("verdict"));
        }
        if buf.is_null() && cap != 0 {
            return Err(null("buf"));
        }
        // SAFETY: checked non-NULL; the caller provides an sw_verdict.
        let c = unsafe { &*verdict };
        let v = Verdict::try_from(c).map_err(|e| fail(sw_result::InvalidArgument, e))?;
        let json = sweepwatch::format::verdict_json(&v);
        if !len_out.is_null() {
            // SAFETY: checked non-NULL; the caller provides a writable size_t.
            unsafe { len_out.write(json.len()) };
        }
        if json.len() >= cap {
            return Err(fail(
                sw_result::InsufficientSize,
                format!(
                    "the JSON needs {} bytes and its NUL, the buffer has {cap}",
                    json.len()
                ),
            ));
        }
        // SAFETY: `buf` holds `cap` > json.len() writable bytes (caller).
        unsafe {
            std::ptr::copy_nonoverlapping(json.as_ptr(), buf.cast::<u8>(), json.len());
            buf.add(json.len()).write(0);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweepwatch::{Protocol, Technique};

    /// The longest JSON a verdict can have: the longest names, IPv6
    /// addresses of full length, every count at its maximum and the score
    /// whose decimal form is longest.
    #[test]
    fn the_longest_verdict_fits_in_the_documented_buffer() {
        let wide = IpAddr::V6(Ipv6Addr::new(
            0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
        ));
        let mut v = Verdict::empty();
        v.kind = Kind::OutboundSweep;
        v.src = wide;
        v.direction = Direction::Outbound;
        v.proto = Protocol::Icmp;
        v.port_list = [65_535; MAX_VERDICT_PORTS];
        v.n_ports = MAX_VERDICT_PORTS as u8;
        (v.targets, v.ports_count, v.failed) = (u32::MAX, u32::MAX, u32::MAX);
        (v.succeeded, v.unanswered, v.probes) = (u32::MAX, u32::MAX, u32::MAX);
        (v.first_seen, v.ts) = (
            Timestamp::from_micros(u64::MAX),
            Timestamp::from_micros(u64::MAX),
        );
        v.sample_list = [wide; MAX_VERDICT_SAMPLE];
        v.n_sample = MAX_VERDICT_SAMPLE as u8;
        v.technique = Technique::IpProtocol;
        v.is_final = false;
        v.zone = u32::MAX;
        let mut longest = 0;
        for score in [
            -f32::MIN_POSITIVE,
            -f32::from_bits(1),
            f32::MIN,
            -1.234_567_9e-38,
        ] {
            v.score = score;
            longest = longest.max(sweepwatch::format::verdict_json(&v).len());
        }
        println!("longest verdict JSON: {longest} bytes");
        assert!(longest < SW_VERDICT_JSON_MAX, "{longest}");
    }

    /// A C verdict made from a core verdict converts back to it exactly.
    #[test]
    fn a_verdict_survives_the_c_struct() {
        let mut v = Verdict::empty();
        v.src = "2001:db8::7".parse().unwrap();
        v.port_list[..2].copy_from_slice(&[22, 2222]);
        v.n_ports = 2;
        v.sample_list[0] = "192.0.2.9".parse().unwrap();
        v.n_sample = 1;
        v.score = 4.75;
        v.is_final = true;
        v.zone = 9;
        let c = sw_verdict::from(&v);
        assert_eq!(Verdict::try_from(&c), Ok(v));
        let mut bad = c;
        bad.sample_families[0] = 5;
        assert_eq!(
            Verdict::try_from(&bad),
            Err(
                "sw_verdict.sample_addrs[0] family 5 is not SW_FAMILY_IPV4 or SW_FAMILY_IPV6"
                    .into()
            )
        );
    }
}
