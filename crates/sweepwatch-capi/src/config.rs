//! `sw_config`: a detector configuration built field by field or parsed from TOML.

use super::ffi::{
    borrow, borrow_mut, free_handle, into_handle, null, slice, utf8, write_str, Handle,
};
use super::panic;
use super::result::{fail, message, sw_result};
use std::ffi::c_char;
use sweepwatch::order::Window;
use sweepwatch::{AllowRule, Cidr, Config, Error};

/// A detector configuration: home networks, allow-list, thresholds, time limits
/// and memory. sw_config_new() gives the defaults, which work without changes.
///
/// Setters store values; sw_config_validate() and sw_detector_new() check the
/// whole configuration, because some limits relate two fields (theta1 below
/// theta0, memory per shard). Address blocks are checked when added.
///
/// A configuration is not thread-safe: do not use one from several threads at
/// once. sw_detector_new() copies it, so it may be changed or freed afterwards.
pub struct sw_config {
    _private: [u8; 0],
}

/// Seconds of event time a C ABI detector holds events by default, to feed
/// them in the order their probes were made: longer than the outcome timeouts
/// of engines' connection tables (Suricata's `flow-timeouts` for new flows,
/// Zeek's attempt timeouts), which decide when an unanswered probe is known.
pub const SW_DEFAULT_REORDER_SECS: u64 = 60;
/// Events a C ABI detector holds at most by default (116 bytes each, about
/// 7 MiB, reserved when the detector is made).
pub const SW_DEFAULT_REORDER_EVENTS: usize = 1 << 16;

/// What a configuration handle holds: the core's configuration, and the
/// window in which the C ABI's detector puts events in time order.
#[derive(Clone)]
pub(crate) struct CConfig {
    pub(crate) core: Config,
    pub(crate) order: Window,
}

impl Default for CConfig {
    fn default() -> Self {
        CConfig {
            core: Config::default(),
            order: Window {
                micros: SW_DEFAULT_REORDER_SECS * 1_000_000,
                max_events: SW_DEFAULT_REORDER_EVENTS,
            },
        }
    }
}

impl Handle for sw_config {
    type Target = CConfig;
}

/// Runs `f` on the configuration behind `config`.
///
/// # Safety
/// `config` must be NULL or a live handle from this module, not in use elsewhere.
unsafe fn with_config(
    config: *mut sw_config,
    f: impl FnOnce(&mut Config) -> Result<(), sw_result>,
) -> sw_result {
    panic::run(|| {
        // SAFETY: per this function's contract.
        let cfg = unsafe { borrow_mut(config) }.ok_or_else(|| null("config"))?;
        f(&mut cfg.core)
    })
}

/// Parses an address block for the list named `field`.
fn block(field: &str, text: &str) -> Result<String, sw_result> {
    match text.parse::<Cidr>() {
        Ok(_) => Ok(text.trim().to_string()),
        Err(e) => Err(fail(sw_result::InvalidConfig, format!("{field}: {e}"))),
    }
}

/// The detail recorded for a configuration error: "field: message".
fn config_detail(e: &Error) -> String {
    match e {
        Error::Config { field, message } => format!("{field}: {message}"),
        other => other.to_string(),
    }
}

/// A new configuration with every default: home networks 10.0.0.0/8,
/// 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10 and fc00::/7; min_targets 5;
/// 64 MiB of memory in 8 shards; random hash seed. Free it with
/// sw_config_free(). Returns NULL only if the library panicked.
#[no_mangle]
pub extern "C" fn sw_config_new() -> *mut sw_config {
    panic::boundary(|| into_handle(CConfig::default()))
}

/// Frees a configuration. NULL is a no-op.
///
/// # Safety
/// `config` must be NULL or a configuration from this library, not used again.
#[no_mangle]
pub unsafe extern "C" fn sw_config_free(config: *mut sw_config) {
    panic::boundary(|| {
        // SAFETY: the caller hands over `config`, which came from into_handle.
        unsafe { free_handle(config) }
    })
}

/// Parses a configuration from a NUL-terminated TOML document, such as
/// `"home_networks = [\"192.0.2.0/24\"]\nmin_targets = 8"`. Fields it does not
/// name keep their defaults; the result is validated in full. On success
/// `*config_out` receives a new configuration to free with sw_config_free().
///
/// On failure returns SW_RESULT_INVALID_CONFIG (unparsable TOML, unknown key,
/// value out of range, text over 1 MiB, which is refused unparsed) or SW_RESULT_INVALID_ARGUMENT (not UTF-8), leaves
/// `*config_out` unchanged, and writes a NUL-terminated message naming the
/// problem into `err_buf` (at most `err_len` bytes, cut to fit), for example
/// "invalid configuration: min_targets: 1 must be between 2 and 1000000".
/// `err_buf` may be NULL if `err_len` is 0; the same message is available from
/// sw_result_message(). Thread-safe.
///
/// # Safety
/// `toml` must be a NUL-terminated string; `config_out` must point to a
/// writable pointer; `err_buf`, if `err_len` is not 0, to `err_len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn sw_config_from_toml(
    toml: *const c_char,
    config_out: *mut *mut sw_config,
    err_buf: *mut c_char,
    err_len: usize,
) -> sw_result {
    let r = panic::run(|| {
        if config_out.is_null() {
            return Err(null("config_out"));
        }
        // SAFETY: the caller provides a NUL-terminated string.
        let text = unsafe { utf8(toml, "toml") }?;
        let cfg = Config::from_toml_str(text)
            .map_err(|e| fail(sw_result::InvalidConfig, config_detail(&e)))?;
        let cfg = CConfig {
            core: cfg,
            ..CConfig::default()
        };
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { config_out.write(into_handle(cfg)) };
        Ok(())
    });
    if r != sw_result::Ok {
        // SAFETY: the caller provides `err_len` writable bytes at `err_buf`.
        unsafe { write_str(err_buf, err_len, &message(r)) };
    }
    r
}

/// Checks every field of the configuration, as sw_detector_new() will. Returns
/// SW_RESULT_INVALID_CONFIG if a value is out of range; sw_result_message() then
/// names the first field at fault. Does not change the configuration.
///
/// # Safety
/// `config` must be NULL or a live configuration not being changed by another
/// thread.
#[no_mangle]
pub unsafe extern "C" fn sw_config_validate(config: *const sw_config) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live configuration or NULL.
        let cfg = unsafe { borrow(config) }.ok_or_else(|| null("config"))?;
        cfg.core
            .validate()
            .map_err(|e| fail(sw_result::InvalidConfig, config_detail(&e)))
    })
}

/// Adds a home network, an IPv4 or IPv6 block such as "10.0.0.0/8" or
/// "2001:db8::/32" (a bare address is a block of one). Home networks decide
/// each verdict's direction; only home sources can be outbound sweepers.
/// The defaults are private ranges: call sw_config_clear_home_nets() first to
/// replace them. Returns SW_RESULT_INVALID_CONFIG for a malformed block.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere; `cidr`
/// NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sw_config_add_home_net(
    config: *mut sw_config,
    cidr: *const c_char,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            let net = block("home_networks", utf8(cidr, "cidr")?)?;
            c.home_networks.push(net);
            Ok(())
        })
    }
}

/// Removes every home network, the defaults included.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_clear_home_nets(config: *mut sw_config) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.home_networks.clear();
            Ok(())
        })
    }
}

/// Allow-lists a source block, such as an authorised vulnerability scanner:
/// its events are counted in the statistics, never reported. `ports` lists the
/// destination ports it may probe unreported; `(NULL, 0)` allows every port.
/// Returns SW_RESULT_INVALID_CONFIG for a malformed block.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere; `cidr`
/// NULL or a NUL-terminated string; `ports` NULL or `n_ports` readable values.
#[no_mangle]
pub unsafe extern "C" fn sw_config_add_allow(
    config: *mut sw_config,
    cidr: *const c_char,
    ports: *const u16,
    n_ports: usize,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            let net = block("allow", utf8(cidr, "cidr")?)?;
            let ports = slice(ports, n_ports, "ports")?;
            c.allow.push(if ports.is_empty() {
                AllowRule::Net(net)
            } else {
                AllowRule::NetPorts {
                    net,
                    ports: ports.to_vec(),
                }
            });
            Ok(())
        })
    }
}

/// Removes every allow-list entry.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_clear_allow(config: *mut sw_config) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.allow.clear();
            Ok(())
        })
    }
}

/// Ignores every attempt to destination port `port` entirely (counted as
/// ignored in the statistics).
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_add_ignore_port(config: *mut sw_config, port: u16) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.ignore_ports.push(port);
            Ok(())
        })
    }
}

/// Ignores every attempt to a destination in the block `cidr` entirely.
/// Returns SW_RESULT_INVALID_CONFIG for a malformed block.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere; `cidr`
/// NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sw_config_add_ignore_net(
    config: *mut sw_config,
    cidr: *const c_char,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            let net = block("ignore_networks", utf8(cidr, "cidr")?)?;
            c.ignore_networks.push(net);
            Ok(())
        })
    }
}

/// Removes every ignored port and network.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_clear_ignores(config: *mut sw_config) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.ignore_ports.clear();
            c.ignore_networks.clear();
            Ok(())
        })
    }
}

/// Adds a reply port: UDP datagrams from source port `port` to a port of 1024
/// or above are replies to an unseen request (an SSDP answer to a multicast
/// M-SEARCH, a DNS answer whose query was not seen), never probes; so are
/// datagrams from `port` to `port` (the protocol's peer traffic, such as
/// ntpd's queries from 123 to 123). The
/// defaults are DNS 53, DHCP 67, NTP 123, NetBIOS 137 and 138, SNMP 161,
/// QUIC 443, SSDP 1900, STUN 3478, WS-Discovery 3702, mDNS 5353 and LLMNR
/// 5355.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_add_reply_port(config: *mut sw_config, port: u16) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.reply_ports.push(port);
            Ok(())
        })
    }
}

/// Removes every reply port, the defaults included: every UDP datagram that
/// opens a flow is then a probe.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_clear_reply_ports(config: *mut sw_config) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.reply_ports.clear();
            Ok(())
        })
    }
}

/// Sets the fewest distinct targets (hosts for sweeps, ports for scans) before
/// a verdict: 2 to 1000000, default 5.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_min_targets(
    config: *mut sw_config,
    min_targets: u32,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.min_targets = min_targets;
            Ok(())
        })
    }
}

/// Sets the memory for all detector state, allocated once by sw_detector_new():
/// 128 KiB to 1 TiB, at least 128 KiB per shard; default 64 MiB.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_memory_bytes(
    config: *mut sw_config,
    bytes: u64,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.memory_bytes = bytes;
            Ok(())
        })
    }
}

/// Sets the number of shards, independent partitions of the sources each behind
/// its own lock, so that several threads can feed one detector: 1 to 1024,
/// default 8. Use about twice the number of feeding threads.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_shards(config: *mut sw_config, shards: u32) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.shards = shards;
            Ok(())
        })
    }
}

/// Sets how long a source that makes no first contact is remembered, in
/// seconds (default 3600); its next attempt after that starts afresh. Keep it
/// at least twice the dedup period, so that a source repeating known pairs is
/// seen again before it counts as idle.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_idle_timeout_secs(
    config: *mut sw_config,
    secs: u64,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.idle_timeout_secs = secs;
            Ok(())
        })
    }
}

/// Sets how long a suspect (a source with more failed first contacts than its
/// successes have cancelled) is remembered without a first contact, in
/// seconds (default 86400, one day), so that scanners probing once an hour or
/// less still add up. Other sources follow the idle timeout; a value below it
/// acts as the idle timeout.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_suspect_timeout_secs(
    config: *mut sw_config,
    secs: u64,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.suspect_timeout_secs = secs;
            Ok(())
        })
    }
}

/// Sets the period in seconds during which a (source, target, port) triple
/// counts once (default 1800).
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_dedup_secs(config: *mut sw_config, secs: u64) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.dedup_secs = secs;
            Ok(())
        })
    }
}

/// Sets how long, in seconds, a reported source is not reported again for the
/// same kind unless its targets grow tenfold (default 3600).
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_suppress_secs(
    config: *mut sw_config,
    secs: u64,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.suppress_secs = secs;
            Ok(())
        })
    }
}

/// Sets the probabilities that a first contact succeeds for a benign source
/// (`theta0`, default 0.8) and for a scanner (`theta1`, default 0.2); both
/// strictly between 0 and 1, `theta1` below `theta0`.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_theta(
    config: *mut sw_config,
    theta0: f64,
    theta1: f64,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.theta0 = theta0;
            c.theta1 = theta1;
            Ok(())
        })
    }
}

/// Sets the wanted probability of detecting a scanner (default 0.99) and the
/// tolerated probability of flagging a benign source (default 0.01); both
/// strictly between 0 and 1, `false_alarm` below `detection`.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_error_rates(
    config: *mut sw_config,
    detection: f64,
    false_alarm: f64,
) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.detection_probability = detection;
            c.false_alarm_probability = false_alarm;
            Ok(())
        })
    }
}

/// Sets the seed of the keyed hashes that place sources in memory, so that
/// replays under memory pressure evict exactly alike. By default the seed is
/// random and secret; a known seed is unsafe on live traffic, where it lets
/// senders choose addresses that crowd one bucket.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_hash_seed(config: *mut sw_config, seed: u64) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.hash_seed = Some(seed);
            Ok(())
        })
    }
}

/// Returns to a random hash seed, chosen by each sw_detector_new().
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_clear_hash_seed(config: *mut sw_config) -> sw_result {
    // SAFETY: the caller's contract is this function's.
    unsafe {
        with_config(config, |c| {
            c.hash_seed = None;
            Ok(())
        })
    }
}

/// Sets how the detector puts events back in the order their probes were
/// made before its sequential test reads them: events are held until event
/// time has moved `window_secs` past them (or `max_events` are held, when
/// the oldest goes early), then fed oldest first.
///
/// Why: engines learn an answer in milliseconds but an unanswered probe only
/// at its timeout, and connection logs are written when connections end. Fed
/// as they come, a burst of first contacts reads as its answers and then its
/// failures, and a peer-to-peer client whose contacts are mostly answered is
/// reported as a sweeper. Give each outcome event the time its probe was sent
/// (sw_event.ts_us) and the window puts them back in order.
///
/// The default, SW_DEFAULT_REORDER_SECS (60) and SW_DEFAULT_REORDER_EVENTS
/// (65,536, about 7 MiB reserved by sw_detector_new()), suits engines that
/// report outcomes when they are known. Verdicts come when their deciding
/// event leaves the window, during a later feeding call, sw_detector_advance()
/// or sw_detector_flush(). Feeding threads then share one lock for the window.
/// `window_secs` or `max_events` 0 turns ordering off: events go straight to
/// the sequential test, and verdicts come during the call that fed them; do
/// that only when outcomes arrive in the order their probes were sent.
///
/// # Safety
/// `config` must be NULL or a live configuration not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn sw_config_set_reorder(
    config: *mut sw_config,
    window_secs: u64,
    max_events: usize,
) -> sw_result {
    panic::run(|| {
        // SAFETY: per this function's contract.
        let cfg = unsafe { borrow_mut(config) }.ok_or_else(|| null("config"))?;
        cfg.order = Window {
            micros: window_secs.saturating_mul(1_000_000),
            max_events,
        };
        Ok(())
    })
}

/// The configuration behind a handle, for sw_detector_new().
///
/// # Safety
/// `config` must be NULL or a live configuration not being changed elsewhere.
pub(crate) unsafe fn config_ref<'a>(config: *const sw_config) -> Result<&'a CConfig, sw_result> {
    // SAFETY: per this function's contract.
    unsafe { borrow(config) }.ok_or_else(|| null("config"))
}

/// Records a configuration error as the thread's last error.
pub(crate) fn config_error(e: &Error) -> sw_result {
    fail(sw_result::InvalidConfig, config_detail(e))
}
