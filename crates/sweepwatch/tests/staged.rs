//! A staging buffer holds events no longer than its bounds: a full buffer,
//! an event `max_delay_micros` newer than the oldest, a flush or a drop each
//! hand them over.

mod common;

use common::*;
use std::sync::{Arc, Mutex};
use sweepwatch::{Config, Detector, Event, Kind, Outcome, Protocol, Verdict};

/// A detector whose verdicts are collected, and the events of a port sweep
/// of 22 from 203.0.113.7, one refused host every `gap` seconds.
fn setup(gap: f64) -> (Detector, Arc<Mutex<Vec<Verdict>>>, Vec<Event>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let det = Detector::new(Config::default(), move |v| sink.lock().unwrap().push(*v)).unwrap();
    let sweep = (1..=40u8)
        .map(|i| {
            let t = f64::from(i) * gap;
            ev(
                t,
                ip("203.0.113.7"),
                v4(192, 168, 1, i),
                22,
                Protocol::Tcp,
                Outcome::Refused,
            )
        })
        .collect();
    (det, seen, sweep)
}

#[test]
fn a_verdict_waits_for_a_full_buffer_and_no_longer() {
    let (det, seen, sweep) = setup(0.001);
    // Fed one by one, the sweep is decided at its fifth host.
    let (alone, _) = run(Config::default(), &sweep);
    assert_eq!(alone[0].targets, 5);
    let mut stage = det.staged(8, u64::MAX);
    for (i, e) in sweep.iter().take(8).enumerate() {
        stage.observe(e).unwrap();
        if i < 7 {
            assert!(
                seen.lock().unwrap().is_empty(),
                "handed over after {} events",
                i + 1
            );
            assert_eq!(stage.len(), i + 1);
        }
    }
    // The eighth filled the buffer: all eight went over, and the verdict
    // decided at the fifth came with them.
    assert!(stage.is_empty());
    let v = seen.lock().unwrap().clone();
    assert_eq!(v.len(), 1);
    assert_eq!((v[0].kind, v[0].targets), (Kind::PortSweep, 5));
    assert_eq!(v[0].ts, sweep[4].ts);
}

#[test]
fn a_verdict_waits_no_longer_than_the_delay_in_event_time() {
    // One host every 0.3 s; a delay bound of one second.
    let (det, seen, sweep) = setup(0.3);
    let mut stage = det.staged(1000, 1_000_000);
    for e in &sweep[..4] {
        stage.observe(e).unwrap();
    }
    // 0.3 .. 1.2 s: 0.9 s between the oldest and the newest, still staged.
    assert_eq!(stage.len(), 4);
    stage.observe(&sweep[4]).unwrap();
    // 1.5 s is 1.2 s after the oldest: handed over, and the fifth decided.
    assert!(stage.is_empty());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn flush_and_drop_hand_over_what_is_staged() {
    let (det, seen, sweep) = setup(0.001);
    let mut stage = det.staged(1000, u64::MAX);
    for e in &sweep[..5] {
        stage.observe(e).unwrap();
    }
    assert!(seen.lock().unwrap().is_empty());
    stage.flush().unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(det.stats().unwrap().events, 5);
    // The rest of the sweep, staged and dropped: every event is counted.
    {
        let mut stage = det.staged(1000, u64::MAX);
        for e in &sweep[5..] {
            stage.observe(e).unwrap();
        }
        assert_eq!(det.stats().unwrap().events, 5);
    }
    assert_eq!(det.stats().unwrap().events, 40);
}

#[test]
fn a_capacity_of_zero_stages_nothing() {
    let (det, seen, sweep) = setup(0.001);
    let mut stage = det.staged(0, u64::MAX);
    for e in &sweep[..5] {
        stage.observe(e).unwrap();
        assert!(stage.is_empty());
    }
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_refused_hand_over_changes_nothing() {
    use std::sync::OnceLock;
    // A callback that stages an event into its own detector, where a
    // hand-over is refused.
    let det: Arc<OnceLock<std::sync::Weak<Detector>>> = Arc::new(OnceLock::new());
    let inner = Arc::clone(&det);
    let refused = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&refused);
    let sweep: Vec<Event> = setup(0.001).2;
    let probe = sweep[0];
    let strong = Arc::new(
        Detector::new(Config::default(), move |_| {
            let d = inner.get().and_then(|w| w.upgrade()).unwrap();
            let mut stage = d.staged(2, u64::MAX);
            stage.observe(&probe).unwrap(); // staged, nothing due
            let r = stage.observe(&probe); // due, and refused
            out.lock().unwrap().push((r, stage.len()));
            stage.flush().unwrap_err();
            // Dropped holding one event, whose hand-over is refused too.
        })
        .unwrap(),
    );
    det.set(Arc::downgrade(&strong)).unwrap();
    for e in &sweep[..5] {
        strong.observe(e).unwrap();
    }
    let r = refused.lock().unwrap().clone();
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(matches!(r[0].0, Err(sweepwatch::Error::Reentrant)));
    // The refused event was not staged; the one before it stayed.
    assert_eq!(r[0].1, 1);
}
