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
