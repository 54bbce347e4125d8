//! `sw_publisher`: a sensor's first contacts published to NATS JetStream for
//! the deployment's aggregators (`sweepwatch aggregate`), from C.

use super::config::{config_ref, sw_config};
use super::event::sw_event;
use super::ffi::{borrow, free_handle, null, slice, utf8, Handle};
use super::panic;
use super::result::{fail, sw_result};
use std::ffi::c_char;

/// A sensor's publisher: sends the first contacts among the events it is
/// given to NATS JetStream, where the aggregators of a deployment of many
/// sensors (`sweepwatch aggregate`) join each source's probes from every
/// sensor. Use it beside a local sw_detector or instead of one.
///
/// Each event passes the publisher's own first-contact filter (4 MiB; the
/// configuration's `dedup_secs`), so repeats never leave the sensor; new
/// ones go out in batches of up to 256 per partition of the deployment
/// (partitioned by a keyed hash of the source), each sent within 100 ms of
/// its first event while events keep coming (and at sw_publisher_tick()).
/// Publishing runs on a thread of the publisher's own: sw_publisher_push()
/// never waits for the network. Batches that cannot be queued (1,024 are
/// waiting) or that the server does not acknowledge after four tries are
/// dropped and counted (sw_publish_stats.dropped); detection at the sensor
/// is never slowed down.
///
/// Thread safety: every sw_publisher_ call but sw_publisher_free() may be
/// made from several threads at once on one publisher (a lock inside).
pub struct sw_publisher {
    _private: [u8; 0],
}

/// What a publisher has done, written by sw_publisher_stats(). New counters
/// are only ever appended.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct sw_publish_stats {
    /// Events given to sw_publisher_push().
    pub events: u64,
    /// Of those, repeats and replies that answered no probe, settled by the
    /// publisher's filter and not sent.
    pub repeats: u64,
    /// Events the server stored (acknowledged).
    pub published: u64,
    /// Batches the server stored.
    pub batches: u64,
    /// Bytes of the batches the server stored.
    pub bytes: u64,
    /// Events dropped: the queue was full, or the server did not
    /// acknowledge their batch.
    pub dropped: u64,
}

#[cfg(feature = "nats")]
mod imp {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::{Mutex, MutexGuard};
    use std::time::Duration;
    use sweepwatch::Event;
    use sweepwatch_nats::{PublishStats, Publisher, PublisherOptions};

    /// What a publisher handle holds. `None` once finished (never seen by
    /// the caller: sw_publisher_free() finishes and frees at once).
    pub(crate) struct Publishing(pub(crate) Mutex<Option<Publisher>>);

    impl Publishing {
        pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Publisher>> {
            // A panic while publishing leaves the batches consistent: go on.
            self.0.lock().unwrap_or_else(|p| p.into_inner())
        }
    }

    /// The Rust API's event for a checked C event.
    pub(crate) fn event(ev: &sw_event) -> Event {
        let addr = |b: &[u8; 16]| match ev.family {
            crate::SW_FAMILY_IPV4 => IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])),
            _ => IpAddr::V6(Ipv6Addr::from(*b)),
        };
        let k = ev.keyed();
        Event {
            ts: k.ts,
            src: addr(&ev.src_addr),
            dst: addr(&ev.dst_addr),
            src_port: ev.src_port,
            dst_port: ev.dst_port,
            proto: k.proto,
            outcome: k.outcome,
            technique: k.technique,
            src_local: None,
            dst_local: None,
            zone: ev.zone,
        }
    }

    pub(crate) fn connect(url: &str, name: &str, dedup_secs: u64) -> Result<Publishing, String> {
        let mut opts = PublisherOptions::new(url);
        opts.name = name.to_string();
        opts.dedup_secs = dedup_secs;
        let p = Publisher::connect(opts).map_err(|e| e.to_string())?;
        Ok(Publishing(Mutex::new(Some(p))))
    }

    pub(crate) fn stats(s: PublishStats) -> sw_publish_stats {
        sw_publish_stats {
            events: s.events,
            repeats: s.repeats,
            published: s.published,
            batches: s.batches,
            bytes: s.bytes,
            dropped: s.dropped,
        }
    }

    pub(crate) fn flush(p: &mut Publisher, timeout_ms: u32) -> bool {
        p.flush(Duration::from_millis(timeout_ms.into()))
    }
}

#[cfg(not(feature = "nats"))]
mod imp {
    /// Built without publishing: no publisher is ever made.
    pub(crate) enum Publishing {}

    pub(crate) fn connect(_: &str, _: &str, _: u64) -> Result<Publishing, String> {
        Err("this libsweepwatch was built without publishing (the `nats` feature)".into())
    }
}

use imp::Publishing;

impl Handle for sw_publisher {
    type Target = Publishing;
}

/// The publisher behind a handle.
///
/// # Safety
/// `p` must be NULL or a live publisher handle.
unsafe fn publisher_ref<'a>(p: *const sw_publisher) -> Result<&'a Publishing, sw_result> {
    // SAFETY: per this function's contract.
    unsafe { borrow(p) }.ok_or_else(|| null("publisher"))
}

/// Connects to the NATS server at `url` (`nats://host:port`, or a cluster's
/// servers separated by commas), reads the deployment's setup (or makes it,
/// with the stream of events, if this is the deployment's first process),
/// and starts publishing. `name` names the connection as the server lists
/// it (NULL: "sweepwatch sensor"); `config` gives the first-contact filter's
/// `dedup_secs` (NULL: the default configuration's, 1,800). A server that
/// does not answer is given 5 seconds; a cluster electing a leader, 15 more.
/// On success `*publisher_out` receives the publisher, to free with
/// sw_publisher_free().
///
/// Returns SW_RESULT_NULL_PARAMETER if `url` or `publisher_out` is NULL,
/// SW_RESULT_INVALID_ARGUMENT if `url` or `name` is not UTF-8,
/// SW_RESULT_UNAVAILABLE if the server cannot be reached or its setup cannot
/// be used, or the library was built without publishing (the detail says
/// which: go on detecting locally). `*publisher_out` is written only on
/// success. Thread-safe; blocks while it connects.
///
/// # Safety
/// `url` and `name` must be NULL or NUL-terminated strings; `config` NULL
/// or a live configuration; `publisher_out` NULL or a writable pointer.
#[no_mangle]
pub unsafe extern "C" fn sw_publisher_new(
    url: *const c_char,
    name: *const c_char,
    config: *const sw_config,
    publisher_out: *mut *mut sw_publisher,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a NUL-terminated string or NULL.
        let url = unsafe { utf8(url, "url") }?;
        let name = if name.is_null() {
            "sweepwatch sensor"
        } else {
            // SAFETY: as for `url`.
            unsafe { utf8(name, "name") }?
        };
        let dedup_secs = if config.is_null() {
            sweepwatch::Config::default().dedup_secs
        } else {
            // SAFETY: the caller provides a live configuration.
            unsafe { config_ref(config) }?.core.dedup_secs
        };
        if publisher_out.is_null() {
            return Err(null("publisher_out"));
        }
        let p = imp::connect(url, name, dedup_secs)
            .map_err(|e| fail(sw_result::Unavailable, format!("publishing to {url}: {e}")))?;
        // SAFETY: checked non-NULL; the caller provides a writable pointer.
        unsafe { publisher_out.write(super::ffi::into_handle(p)) };
        Ok(())
    })
}

/// Gives the publisher a copy of each of the `n` events at `events` (see
/// sw_publisher): the first contacts among them go out in their sources'
/// batches. Events are checked first, as sw_detector_observe_batch() checks
/// them; a malformed one refuses the whole call and nothing is published.
/// `(NULL, 0)` publishes nothing. Never waits for the network.
///
/// Returns SW_RESULT_NULL_PARAMETER if `publisher` is NULL or `events` is
/// NULL with `n` > 0, SW_RESULT_INVALID_ARGUMENT for a malformed event (the
/// detail gives its index). Thread-safe.
///
/// # Safety
/// `publisher` must be NULL or a live publisher; `events` NULL or `n`
/// readable sw_event structs.
#[no_mangle]
pub unsafe extern "C" fn sw_publisher_push(
    publisher: *mut sw_publisher,
    events: *const sw_event,
    n: usize,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live publisher or NULL.
        let p = unsafe { publisher_ref(publisher) }?;
        // SAFETY: the caller provides `n` readable events.
        let events = unsafe { slice(events, n, "events") }?;
        for (i, ev) in events.iter().enumerate() {
            ev.check()
                .map_err(|e| fail(sw_result::InvalidArgument, format!("events[{i}]: {e}")))?;
        }
        push(p, events);
        Ok(())
    })
}

#[cfg(feature = "nats")]
fn push(p: &Publishing, events: &[sw_event]) {
    if let Some(p) = p.lock().as_mut() {
        for ev in events {
            p.push(&imp::event(ev));
        }
    }
}

#[cfg(not(feature = "nats"))]
fn push(p: &Publishing, _: &[sw_event]) {
    match *p {}
}

/// Sends every batch that has waited 100 ms: call it now and then (every
/// second, say) when events may pause, so that the last events before a
/// pause do not wait for the next ones. Never waits for the network.
///
/// Returns SW_RESULT_NULL_PARAMETER if `publisher` is NULL. Thread-safe.
///
/// # Safety
/// `publisher` must be NULL or a live publisher.
#[no_mangle]
pub unsafe extern "C" fn sw_publisher_tick(publisher: *mut sw_publisher) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live publisher or NULL.
        let p = unsafe { publisher_ref(publisher) }?;
        tick(p);
        Ok(())
    })
}

#[cfg(feature = "nats")]
fn tick(p: &Publishing) {
    if let Some(p) = p.lock().as_mut() {
        p.tick();
    }
}

#[cfg(not(feature = "nats"))]
fn tick(p: &Publishing) {
    match *p {}
}

/// Sends every pending batch, then waits at most `timeout_ms` until the
/// server has acknowledged (or the publisher has given up) every batch sent
/// so far: at the end of an input, or before a pause. Publishing goes on
/// afterwards.
///
/// Returns SW_RESULT_NULL_PARAMETER if `publisher` is NULL,
/// SW_RESULT_UNAVAILABLE if batches still await acknowledgement after
/// `timeout_ms` (they are still being tried). Thread-safe; other calls on
/// the publisher wait while it waits.
///
/// # Safety
/// `publisher` must be NULL or a live publisher.
#[no_mangle]
pub unsafe extern "C" fn sw_publisher_flush(
    publisher: *mut sw_publisher,
    timeout_ms: u32,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live publisher or NULL.
        let p = unsafe { publisher_ref(publisher) }?;
        if flush(p, timeout_ms) {
            Ok(())
        } else {
            Err(fail(
                sw_result::Unavailable,
                format!("batches still await the server's acknowledgement after {timeout_ms} ms"),
            ))
        }
    })
}

#[cfg(feature = "nats")]
fn flush(p: &Publishing, timeout_ms: u32) -> bool {
    p.lock().as_mut().is_none_or(|p| imp::flush(p, timeout_ms))
}

#[cfg(not(feature = "nats"))]
fn flush(p: &Publishing, _: u32) -> bool {
    match *p {}
}

/// Writes what the publisher has done so far into `*stats_out`.
///
/// Returns SW_RESULT_NULL_PARAMETER if `publisher` or `stats_out` is NULL;
/// `*stats_out` is written only on success. Thread-safe.
///
/// # Safety
/// `publisher` must be NULL or a live publisher; `stats_out` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn sw_publisher_stats(
    publisher: *const sw_publisher,
    stats_out: *mut sw_publish_stats,
) -> sw_result {
    panic::run(|| {
        // SAFETY: the caller provides a live publisher or NULL.
        let p = unsafe { publisher_ref(publisher) }?;
        if stats_out.is_null() {
            return Err(null("stats_out"));
        }
        let s = stats(p);
        // SAFETY: checked non-NULL; the caller provides a writable struct.
        unsafe { stats_out.write(s) };
        Ok(())
    })
}

#[cfg(feature = "nats")]
fn stats(p: &Publishing) -> sw_publish_stats {
    p.lock()
        .as_ref()
        .map(|p| imp::stats(p.stats()))
        .unwrap_or_default()
}

#[cfg(not(feature = "nats"))]
fn stats(p: &Publishing) -> sw_publish_stats {
    match *p {}
}

/// Sends what is pending, waits until the server has acknowledged every
/// batch or the publisher has given it up (four tries over about 20 s at
/// most, while the server is unreachable), writes the final counters into
/// `*stats_out` if it is not NULL, and frees the publisher. NULL is a no-op.
///
/// # Safety
/// `publisher` must be NULL or a publisher from sw_publisher_new(), not in
/// use by another thread and not used again; `stats_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sw_publisher_free(
    publisher: *mut sw_publisher,
    stats_out: *mut sw_publish_stats,
) {
    panic::boundary(|| {
        // SAFETY: the caller provides a live publisher or NULL.
        if let Some(p) = unsafe { borrow::<sw_publisher>(publisher) } {
            let s = finish(p);
            if !stats_out.is_null() {
                // SAFETY: checked non-NULL; the caller provides a writable struct.
                unsafe { stats_out.write(s) };
            }
        }
        // SAFETY: the caller hands over `publisher`, which came from
        // into_handle, and no other call on it is running.
        unsafe { free_handle(publisher) }
    })
}

#[cfg(feature = "nats")]
fn finish(p: &Publishing) -> sw_publish_stats {
    p.lock()
        .take()
        .map(|p| imp::stats(p.finish()))
        .unwrap_or_default()
}

#[cfg(not(feature = "nats"))]
fn finish(p: &Publishing) -> sw_publish_stats {
    match *p {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr;

    #[test]
    fn null_arguments_are_refused_and_nothing_is_written() {
        let mut out: *mut sw_publisher = ptr::null_mut();
        unsafe {
            assert_eq!(
                sw_publisher_new(ptr::null(), ptr::null(), ptr::null(), &mut out),
                sw_result::NullParameter
            );
            assert!(out.is_null());
            let url = c"nats://127.0.0.1:1";
            assert_eq!(
                sw_publisher_new(url.as_ptr(), ptr::null(), ptr::null(), ptr::null_mut()),
                sw_result::NullParameter
            );
            assert_eq!(
                sw_publisher_push(ptr::null_mut(), ptr::null(), 0),
                sw_result::NullParameter
            );
            assert_eq!(sw_publisher_tick(ptr::null_mut()), sw_result::NullParameter);
            assert_eq!(
                sw_publisher_flush(ptr::null_mut(), 0),
                sw_result::NullParameter
            );
            let mut s = sw_publish_stats::default();
            assert_eq!(
                sw_publisher_stats(ptr::null(), &mut s),
                sw_result::NullParameter
            );
            sw_publisher_free(ptr::null_mut(), ptr::null_mut());
        }
    }

    #[test]
    fn a_server_that_is_not_there_is_unavailable_with_its_address() {
        // Port 1 on loopback: nothing listens there (connection refused).
        let url = c"nats://127.0.0.1:1";
        let mut out: *mut sw_publisher = ptr::null_mut();
        let r = unsafe { sw_publisher_new(url.as_ptr(), ptr::null(), ptr::null(), &mut out) };
        assert_eq!(r, sw_result::Unavailable);
        assert!(out.is_null());
        let msg = crate::result::message(r);
        assert!(msg.contains("nats://127.0.0.1:1"), "{msg}");
    }
}
