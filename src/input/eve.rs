//! Suricata EVE JSON: `flow` records to outcomes. (placeholder: being written)

use crate::Event;

/// Maps one EVE record (one JSON line) to an event: `Ok(None)` for records that
/// are not flows or carry no attempt (midstream pickups), `Err` for malformed JSON.
pub fn eve_event(_line: &str) -> Result<Option<Event>, String> {
    unimplemented!("placeholder")
}
