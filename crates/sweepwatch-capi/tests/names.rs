//! The C enums' names: every value named as the core names it (the JSON
//! contract's words), every other byte NULL, and the version number equal to
//! the version string.

use std::ffi::{c_char, CStr};
use sweepwatch::{Direction, Kind, Outcome, Protocol, Technique};
use sweepwatch_capi::*;

/// The names `f` gives every byte value, `None` where it gives NULL.
fn names(f: extern "C" fn(u8) -> *const c_char) -> Vec<Option<String>> {
    (0..=255u8)
        .map(|v| {
            let p = f(v);
            // SAFETY: a non-null result is a static NUL-terminated string.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
        })
        .collect()
}

/// Checks that `f` names exactly the values `want` lists, as listed.
fn check(f: extern "C" fn(u8) -> *const c_char, want: &[(u8, &str)]) {
    let got = names(f);
    for (v, name) in got.iter().enumerate() {
        let expected = want
            .iter()
            .find(|(w, _)| usize::from(*w) == v)
            .map(|(_, n)| *n);
        assert_eq!(name.as_deref(), expected, "value {v}");
    }
}

#[test]
fn kinds_and_directions_are_named_as_verdicts_write_them() {
    let kinds: Vec<(u8, &str)> = Kind::ALL
        .iter()
        .map(|&k| (u8::from(sw_kind::from(k)), k.as_str()))
        .collect();
    assert_eq!(kinds.len(), 4);
    check(sw_kind_name, &kinds);
    let directions: Vec<(u8, &str)> = [
        Direction::Outbound,
        Direction::Inbound,
        Direction::Internal,
        Direction::External,
    ]
    .iter()
    .map(|&d| (u8::from(sw_direction::from(d)), d.as_str()))
    .collect();
    check(sw_direction_name, &directions);
}

#[test]
fn protocols_outcomes_and_techniques_are_named_as_the_core_names_them() {
    let protocols: Vec<(u8, &str)> = (0..=255u8)
        .filter_map(|v| sw_protocol::try_from(v).ok())
        .map(|p| (u8::from(p), Protocol::from(p).as_str()))
        .collect();
    assert_eq!(protocols.len(), 4);
    check(sw_protocol_name, &protocols);
    let outcomes: Vec<(u8, &str)> = (0..=255u8)
        .filter_map(|v| sw_outcome::try_from(v).ok())
        .map(|o| (u8::from(o), Outcome::from(o).as_str()))
        .collect();
    assert_eq!(outcomes.len(), 5);
    check(sw_outcome_name, &outcomes);
    let techniques: Vec<(u8, &str)> = (0..=255u8)
        .filter_map(|v| sw_technique::try_from(v).ok())
        .map(|t| {
            let core: Option<Technique> = t.into();
            (u8::from(t), core.map_or("default", Technique::as_str))
        })
        .collect();
    assert_eq!(techniques.len(), Technique::ALL.len() + 1);
    check(sw_technique_name, &techniques);
}

#[test]
fn the_version_number_is_the_version_string() {
    // SAFETY: sw_version returns a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(sw_version()) }.to_str().unwrap();
    let parts: Vec<u32> = text.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts.len(), 3, "{text}");
    assert_eq!(
        sw_version_number(),
        parts[0] * 10_000 + parts[1] * 100 + parts[2]
    );
    assert_eq!(sw_version_number(), SW_VERSION_NUMBER);
    // The check the header documents accepts the library it was built with.
    assert_eq!(sw_version_number() / 100, SW_VERSION_NUMBER / 100);
}
