//! Framing and decoding on their own thread, ahead of the flow tracker: a
//! capture's bytes are read (from the kernel, or through gzip), framed,
//! decoded and keyed on one core while the flow tracker runs on another.
//! Packets go across in batches, in order, so what the tracker sees is
//! exactly what it would see on one thread. The events the tracker makes
//! come back in batches, in order, and the decoding thread hands them to the
//! caller's sink between its own batches: detection then shares the core
//! that decoding leaves idle, instead of the tracker's.

use super::flows::{Key, Keys};
use super::format::{Capture, Next};
use super::packet::{self, Decoded, Packet};
use crate::{Emit, InputError};
use std::io::Read;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use sweepwatch::Event;

/// Records a batch carries: large enough that handing one over costs little
/// per packet, small enough that the two threads overlap from the start.
const BATCH: usize = 512;

/// Batches in flight: the decoder may run this far ahead.
const IN_FLIGHT: usize = 4;

/// One capture record, decoded.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Record {
    /// A packet the flow tracker takes: its capture time (µs; `None` when
    /// the record carries none), the packet and its key.
    Packet {
        ts: Option<u64>,
        packet: Packet,
        key: Key,
    },
    /// A frame the tracker does not take, and why: its record's offset
    /// and capture time, which still counts.
    Skipped { at: u64, ts: Option<u64>, why: Skip },
    /// A packet record whose own fields are inconsistent.
    Bad { at: u64, why: &'static str },
    /// The capture ended inside the record starting here.
    Truncated(u64),
}

/// Why a frame is not the tracker's.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Skip {
    /// Well formed but of no interest.
    Irrelevant,
    /// A header is cut short or inconsistent: which one, and how.
    Malformed(&'static str),
    /// Its link type (802.11, PPP, ...) is not decoded here.
    Link(u32),
}

/// The end of a decoder's stream: the error that stopped it, if any.
type Ended = Result<(), InputError>;

/// Runs `consume` on every record of the capture `r`, in order, while
/// another thread reads, decodes and keys (with `keys`) the records after
/// it. The events `consume` puts in its outbox reach `emit`, in order, on
/// that other thread, all of them before this returns. Returns what reading
/// returned (an error stops the records where it happened).
///
/// # Panics
/// A panic of the decoding thread (or of `emit`) is raised again on the
/// calling thread.
pub(crate) fn each_record<R: Read + Send>(
    r: R,
    keys: &Keys,
    emit: Emit<'_>,
    mut consume: impl FnMut(&Record, &mut Vec<Event>),
) -> Ended {
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Vec<Record>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = channel::<Vec<Record>>();
        // Unbounded, yet bounded in fact: one batch of events comes per batch
        // of records, and at most `IN_FLIGHT` of those are ahead.
        let (events_tx, events_rx) = channel::<Vec<Event>>();
        let (spent_tx, spent_rx) = channel::<Vec<Event>>();
        let keys = keys.clone();
        let decoder = scope.spawn(move || {
            let mut sink = Sink {
                events: events_rx,
                spent: spent_tx,
                emit,
            };
            let ended = decode_all(r, &keys, &full_tx, &empty_rx, &mut sink);
            // The tracker's loop ends with the last batch; its events follow.
            drop(full_tx);
            sink.rest();
            ended
        });
        let mut outbox = Vec::new();
        for batch in full_rx.iter() {
            for record in &batch {
                consume(record, &mut outbox);
            }
            if !outbox.is_empty() {
                let next = spent_rx.try_recv().unwrap_or_default();
                // The decoding thread may have ended (a panic in `emit`):
                // then the events are dropped, and the panic is raised below.
                let _ = events_tx.send(std::mem::replace(&mut outbox, next));
            }
            // The decoder may have ended: then the batch is simply dropped.
            let _ = empty_tx.send(batch);
        }
        drop(events_tx);
        match decoder.join() {
            Ok(ended) => ended,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The decoding thread's end of the events: the tracker's batches, handed to
/// the caller's sink in order, and their vectors sent back for reuse.
struct Sink<'e> {
    events: Receiver<Vec<Event>>,
    spent: std::sync::mpsc::Sender<Vec<Event>>,
    emit: Emit<'e>,
}

impl Sink<'_> {
    fn deliver(&mut self, mut batch: Vec<Event>) {
        for ev in batch.drain(..) {
            (self.emit)(ev);
        }
        let _ = self.spent.send(batch);
    }

    /// Delivers the batches that arrived, without waiting for more.
    fn arrived(&mut self) {
        while let Ok(batch) = self.events.try_recv() {
            self.deliver(batch);
        }
    }

    /// Delivers every batch until the tracker is done.
    fn rest(&mut self) {
        while let Ok(batch) = self.events.recv() {
            self.deliver(batch);
        }
    }
}

/// The decoding thread: records in batches to `full`, reusing the batches
/// that come back on `empty`, and the tracker's events to `sink` between
/// batches.
fn decode_all<R: Read>(
    r: R,
    keys: &Keys,
    full: &SyncSender<Vec<Record>>,
    empty: &Receiver<Vec<Record>>,
    sink: &mut Sink<'_>,
) -> Ended {
    let mut cap = Capture::open(r)?;
    let mut batch = Vec::with_capacity(BATCH);
    let ended = loop {
        let record = match cap.next() {
            Ok(Next::Packet { at, ts, link, data }) => match packet::decode(link, data) {
                Decoded::Packet(packet) => Record::Packet {
                    ts,
                    packet,
                    key: keys.of(&packet),
                },
                Decoded::Irrelevant => Record::Skipped {
                    at,
                    ts,
                    why: Skip::Irrelevant,
                },
                Decoded::Malformed(why) => Record::Skipped {
                    at,
                    ts,
                    why: Skip::Malformed(why),
                },
                Decoded::UnsupportedLink => Record::Skipped {
                    at,
                    ts,
                    why: Skip::Link(link),
                },
            },
            Ok(Next::BadPacket { at, why }) => Record::Bad { at, why },
            Ok(Next::Truncated(at)) => {
                batch.push(Record::Truncated(at));
                break Ok(());
            }
            Ok(Next::End) => break Ok(()),
            Err(e) => break Err(e),
        };
        batch.push(record);
        if batch.len() == BATCH {
            sink.arrived();
            let mut next = empty
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH));
            next.clear();
            if !hand_over(full, std::mem::replace(&mut batch, next)) {
                // The tracker stopped (its caller unwound): nobody reads on.
                return Ok(());
            }
        }
    };
    if !batch.is_empty() {
        hand_over(full, batch);
    }
    ended
}

/// Sends a batch; false when the receiving side is gone.
fn hand_over(full: &SyncSender<Vec<Record>>, batch: Vec<Record>) -> bool {
    full.send(batch).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A classic pcap (raw IPv4 link) of `n` records of 20 zero bytes: each
    /// decodes as malformed, which is all these tests need of them.
    fn capture(n: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        for w in [0u32, 0, 65_535, 228] {
            // Zone, accuracy, snapshot length, link type (raw IPv4).
            b.extend_from_slice(&w.to_le_bytes());
        }
        for i in 0..n as u32 {
            for w in [1_700_000_000 + i, 0, 20, 20] {
                b.extend_from_slice(&w.to_le_bytes());
            }
            b.extend_from_slice(&[0; 20]);
        }
        b
    }

    fn offsets(bytes: &[u8]) -> (Vec<u64>, Ended) {
        let mut at = Vec::new();
        let ended = each_record(bytes, &Keys::new(false), &mut |_| {}, |r, _| {
            if let Record::Skipped { at: a, .. } = r {
                at.push(*a);
            }
        });
        (at, ended)
    }

    #[test]
    fn every_record_comes_once_in_order() {
        let n = 3 * BATCH + 7;
        let (at, ended) = offsets(&capture(n));
        assert!(ended.is_ok());
        let want: Vec<u64> = (0..n as u64).map(|i| 24 + i * 36).collect();
        assert_eq!(at, want);
    }

    #[test]
    fn a_read_error_ends_the_records_where_it_happened() {
        struct Failing(Vec<u8>, usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.1 >= self.0.len() {
                    return Err(io::Error::other("disk gone"));
                }
                let n = buf.len().min(self.0.len() - self.1).min(1000);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let bytes = capture(2 * BATCH);
        let mut seen = 0;
        let ended = each_record(Failing(bytes, 0), &Keys::new(false), &mut |_| {}, |_, _| {
            seen += 1
        });
        assert!(ended.unwrap_err().to_string().contains("disk gone"));
        assert_eq!(seen, 2 * BATCH);
    }

    #[test]
    fn a_panic_on_either_side_reaches_the_caller_and_nothing_hangs() {
        struct Panicking;
        impl Read for Panicking {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("reader bug");
            }
        }
        let caught = std::panic::catch_unwind(|| {
            each_record(Panicking, &Keys::new(false), &mut |_| {}, |_, _| {})
        });
        let msg = sweepwatch::panic_message(caught.unwrap_err().as_ref());
        assert_eq!(msg, "reader bug");

        // The consumer stops at its first record of a long capture: the
        // decoder, blocked on a full channel, must end too.
        let bytes = capture(50 * BATCH);
        let caught = std::panic::catch_unwind(|| {
            let _ = each_record(&bytes[..], &Keys::new(false), &mut |_| {}, |_, _| {
                panic!("consumer bug")
            });
        });
        assert!(caught.is_err());
    }

    /// An event for the `i`-th record, told apart by its port.
    fn event(i: u16) -> Event {
        Event::new(
            sweepwatch::Timestamp::from_secs(1),
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            i,
            sweepwatch::Protocol::Tcp,
            sweepwatch::Outcome::Refused,
        )
    }

    #[test]
    fn every_event_reaches_the_sink_in_order_before_the_end() {
        let n = 5 * BATCH + 3;
        let bytes = capture(n);
        let mut got = Vec::new();
        let mut i = 0u16;
        let ended = each_record(
            &bytes[..],
            &Keys::new(false),
            &mut |ev| got.push(ev.dst_port),
            |_, out| {
                // Two events for some records, none for others.
                if i % 3 != 0 {
                    out.push(event(2 * i));
                    out.push(event(2 * i + 1));
                }
                i += 1;
            },
        );
        assert!(ended.is_ok());
        let want: Vec<u16> = (0..n as u16)
            .filter(|i| i % 3 != 0)
            .flat_map(|i| [2 * i, 2 * i + 1])
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_panic_in_the_sink_reaches_the_caller_and_nothing_hangs() {
        let bytes = capture(50 * BATCH);
        let caught = std::panic::catch_unwind(|| {
            let _ = each_record(
                &bytes[..],
                &Keys::new(false),
                &mut |_| panic!("sink bug"),
                |_, out| out.push(event(1)),
            );
        });
        let msg = sweepwatch::panic_message(caught.unwrap_err().as_ref());
        assert_eq!(msg, "sink bug");
    }
}
