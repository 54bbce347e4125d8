//! Verdicts decided on the calling thread, handed back by the call that
//! decided them.
//!
//! The detector calls its verdict callback on the thread whose call decided
//! the verdict, inside that call. A thread-local list therefore holds
//! exactly the verdicts of the current call, even while other Python
//! threads feed the same detector.

use std::cell::RefCell;
use sweepwatch::Verdict;

thread_local! {
    static DECIDED: RefCell<Vec<Verdict>> = const { RefCell::new(Vec::new()) };
}

/// The detector's callback: keeps `v` for the current call.
pub fn keep(v: &Verdict) {
    DECIDED.with(|d| d.borrow_mut().push(*v));
}

/// The verdicts decided on this thread since the last call, as JSON.
pub fn take_json() -> Vec<String> {
    take_stamped(0)
}

/// [`take_json`], each verdict marked as counted under packet sampling of
/// one in `sampling` where the detector could not know it (as the command
/// marks them).
pub fn take_stamped(sampling: u32) -> Vec<String> {
    DECIDED.with(|d| {
        d.borrow_mut()
            .drain(..)
            .map(|mut v| {
                v.sampling = v.sampling.max(sampling);
                sweepwatch::format::verdict_json(&v)
            })
            .collect()
    })
}

/// Forgets what an interrupted call left (a call that failed part-way).
pub fn clear() {
    DECIDED.with(|d| d.borrow_mut().clear());
}
