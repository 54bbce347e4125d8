//! Saved state: a detector saved, dropped and restored goes on exactly as one
//! that never stopped; a state that is cut short, corrupt, of another format
//! or of another layout is refused with a message that says which.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use sweepwatch::{Config, Detector, Error, Event, Outcome, Protocol, Verdict};

/// Three hours of traffic, past several dedup periods and idle timeouts:
/// benign clients, 400 sweepers of port 445 (a quarter of them pausing
/// for an hour midway), scanners of many ports, and backscatter.
fn three_hours() -> Vec<Event> {
    let mut rng = Rng(7);
    let mut events = Vec::new();
    let span = 3.0 * 3600.0;
    for i in 0..300_000u32 {
        let t = f64::from(i) * span / 300_000.0;
        let r = rng.below(100);
        let (src, dst, port, outcome) = if r < 4 {
            let s = rng.below(400) as u32;
            if s % 4 == 0 && (3600.0..7200.0).contains(&t) {
                continue;
            }
            (
                v4(198, 18, (s >> 8) as u8, s as u8),
                rng.external(),
                445,
                Outcome::Refused,
            )
        } else if r < 5 {
            let s = rng.below(20) as u8;
            let port = 1 + rng.below(5000) as u16;
            (
                v4(203, 0, 113, s),
                v4(192, 168, 1, 10),
                port,
                Outcome::Refused,
            )
        } else if r < 6 {
            (rng.external(), v4(192, 168, 0, 1), 80, Outcome::Unsolicited)
        } else {
            let c = rng.below(30_000) as u32;
            let src = v4(10, (c >> 16) as u8, (c >> 8) as u8, c as u8);
            let o = if rng.chance(0.05) {
                Outcome::Unanswered
            } else {
                Outcome::Established
            };
            (src, rng.external(), 443, o)
        };
        events.push(ev(t, src, dst, port, Protocol::Tcp, outcome));
    }
    events
}

/// Small enough that sources are evicted and evidence is stolen: the
/// saved state must carry a detector under pressure, not an idle one.
fn tight() -> Config {
    Config {
        memory_bytes: 2 << 20,
        shards: 4,
        ..Config::default()
    }
}

type Seen = Arc<Mutex<Vec<Verdict>>>;

fn detector(config: Config) -> (Detector, Seen) {
    let seen: Seen = Arc::default();
    let sink = Arc::clone(&seen);
    let det = Detector::new(config, move |v| sink.lock().unwrap().push(*v)).unwrap();
    (det, seen)
}

fn restored(config: Config, state: &[u8], seen: &Seen) -> Detector {
    let sink = Arc::clone(seen);
    Detector::restore(config, state, move |v| sink.lock().unwrap().push(*v)).unwrap()
}

fn in_order(mut v: Vec<Verdict>) -> Vec<Verdict> {
    v.sort_by_key(|v| (v.ts, v.src, v.proto as u8, v.kind, v.is_final, v.targets));
    v
}

#[test]
fn a_restored_detector_goes_on_as_one_that_never_stopped() {
    let events = three_hours();
    // The keys are random (no seed), so every run starts from one empty
    // detector's state: under memory pressure two detectors with other keys
    // evict and estimate otherwise, and only a state that carries its keys
    // goes on alike.
    let (empty, _) = detector(tight());
    let mut blank = Vec::new();
    empty.save(&mut blank).unwrap();
    let whole_seen = Seen::default();
    let whole = restored(tight(), &blank, &whole_seen);
    whole.observe_batch(&events).unwrap();
    whole.flush().unwrap();
    let want = in_order(whole_seen.lock().unwrap().clone());
    assert!(want.len() > 300, "{} verdicts", want.len());

    for cut in [1, events.len() / 3, events.len() / 2 + 7, events.len() - 1] {
        let seen = Seen::default();
        let first = restored(tight(), &blank, &seen);
        first.observe_batch(&events[..cut]).unwrap();
        let mut state = Vec::new();
        let bytes = first.save(&mut state).unwrap();
        assert_eq!(bytes, state.len() as u64);
        let stats = first.stats().unwrap();
        drop(first);

        let second = restored(tight(), &state, &seen);
        assert_eq!(second.stats().unwrap(), stats, "cut at {cut}");
        // Saving again gives the very same bytes: nothing was lost or added.
        let mut again = Vec::new();
        second.save(&mut again).unwrap();
        assert!(
            again == state,
            "cut at {cut}: the state changed in a round trip"
        );

        second.observe_batch(&events[cut..]).unwrap();
        second.flush().unwrap();
        assert_eq!(
            second.stats().unwrap(),
            whole.stats().unwrap(),
            "cut at {cut}"
        );
        // A batch delivers shard by shard: the same verdicts, in an order
        // that depends on where batches start.
        let got = in_order(seen.lock().unwrap().clone());
        assert_eq!(got.len(), want.len(), "cut at {cut}");
        if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
            panic!(
                "cut at {cut}: verdict {i} differs:\n{:?}\n{:?}",
                got[i], want[i]
            );
        }
    }
}

#[test]
fn a_scanner_that_pauses_across_a_restart_is_reported() {
    // Three refused probes before the restart and three after: no run of
    // either half alone reaches a verdict.
    let config = Config {
        memory_bytes: 1 << 20,
        shards: 1,
        ..Config::default()
    };
    let probe = |t: f64, i: u8| {
        ev(
            t,
            ip("203.0.113.9"),
            v4(192, 168, 1, i),
            22,
            Protocol::Tcp,
            Outcome::Refused,
        )
    };
    let (first, seen) = detector(config.clone());
    for i in 1..=3 {
        first.observe(&probe(f64::from(i), i)).unwrap();
    }
    let mut state = Vec::new();
    first.save(&mut state).unwrap();
    drop(first);
    let second = restored(config.clone(), &state, &seen);
    for i in 4..=6 {
        second.observe(&probe(600.0 + f64::from(i), i)).unwrap();
    }
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].targets, 5);

    // Without the state the restarted detector knows nothing.
    let (fresh, fresh_seen) = detector(config);
    for i in 4..=6 {
        fresh.observe(&probe(600.0 + f64::from(i), i)).unwrap();
    }
    assert!(fresh_seen.lock().unwrap().is_empty());
}

/// A saved state of a detector under load.
fn busy_state() -> Vec<u8> {
    let events = three_hours();
    let (det, _) = detector(tight());
    det.observe_batch(&events[..100_000]).unwrap();
    let mut state = Vec::new();
    det.save(&mut state).unwrap();
    state
}

fn refusal(config: Config, state: &[u8]) -> String {
    match Detector::restore(config, state, |_| {}) {
        Err(Error::State { message }) => message,
        Err(e) => panic!("refused as another error: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn corrupt_and_truncated_states_are_refused() {
    let state = busy_state();
    let n = state.len();
    // A flipped bit anywhere, from the magic to the checksum.
    for k in 0..97 {
        let at = k * (n - 1) / 96;
        let mut bad = state.clone();
        bad[at] ^= 1 << (k % 8);
        let why = refusal(tight(), &bad);
        let named = match at {
            0..=7 => why.contains("not a sweepwatch state"),
            8..=11 => why.contains("format"),
            // A length: the section ends elsewhere, or the arrays differ.
            _ => {
                why.contains("corrupt")
                    || why.contains("cut short")
                    || why.contains("size")
                    || why.contains("claims")
            }
        };
        assert!(named, "byte {at}: {why}");
    }
    // Cut short anywhere.
    for k in 0..64 {
        let len = k * (n - 1) / 63;
        let why = refusal(tight(), &state[..len]);
        assert!(
            why.contains("cut short") || why.contains("not a sweepwatch state"),
            "{len} bytes: {why}"
        );
    }
    assert!(refusal(tight(), b"").contains("cut short"));
    assert!(refusal(tight(), b"{\"not\": \"a state\"}").contains("not a sweepwatch state"));
}

#[test]
fn another_format_or_layout_is_refused_and_thresholds_may_change() {
    let state = busy_state();
    let mut newer = state.clone();
    newer[8..12].copy_from_slice(&99u32.to_le_bytes());
    let why = refusal(tight(), &newer);
    assert!(why.contains("format 99"), "{why}");

    let bigger = Config {
        memory_bytes: 4 << 20,
        ..tight()
    };
    let why = refusal(bigger, &state);
    assert!(why.contains("memory_bytes 2097152 (now 4194304)"), "{why}");
    let more = Config {
        shards: 8,
        ..tight()
    };
    assert!(refusal(more, &state).contains("shards 4 (now 8)"));
    let seeded = Config {
        hash_seed: Some(1),
        ..tight()
    };
    assert!(refusal(seeded, &state).contains("hash_seed"));

    let stricter = Config {
        min_targets: 9,
        suppress_secs: 600,
        ..tight()
    };
    assert!(Detector::restore(stricter, &state[..], |_| {}).is_ok());
}

#[test]
fn a_state_made_by_hand_that_links_outside_the_pool_is_refused() {
    let state = busy_state();
    // The first shard's table starts after the magic, the version, the
    // header and the shard head (each a length, the section, a CRC-32), and
    // the table's length.
    let section = |at: usize| u32::from_le_bytes(state[at..at + 4].try_into().unwrap()) as usize;
    let header = 12;
    let head = header + 4 + section(header) + 4;
    let table = head + 4 + section(head) + 4 + 8;
    let mut bad = state[..state.len() - 4].to_vec();
    // Record 0: an evidence id of 2^20 - 1, past any pool of 2 MiB.
    bad[table + 16..table + 20].copy_from_slice(&0xF000_0000u32.to_le_bytes());
    bad[table + 56..table + 58].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let crc = crc32fast::hash(&bad);
    bad.extend_from_slice(&crc.to_le_bytes());
    let why = refusal(tight(), &bad);
    assert!(why.contains("outside the pool"), "{why}");
}

#[test]
fn a_failing_writer_is_an_io_error() {
    struct Full(usize);
    impl std::io::Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "disk full",
                ));
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (det, _) = detector(tight());
    match det.save(Full(100_000)) {
        Err(Error::Io { kind, message }) => {
            assert_eq!(kind, std::io::ErrorKind::StorageFull);
            assert!(message.contains("disk full"));
        }
        other => panic!("{other:?}"),
    }
}
