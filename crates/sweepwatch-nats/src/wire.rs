//! The messages sensors publish: batches of events, postcard-encoded behind
//! a magic number and a format version.

use sweepwatch::Event;

/// What every batch starts with.
const MAGIC: [u8; 4] = *b"SWEV";
/// The batch format. Postcard writes enums by their variant's number, so
/// any change to [`Event`]'s fields or its enums' order is a new version.
pub const FORMAT: u16 = 1;
/// The most events a batch may hold: more is refused as corrupt.
pub const MAX_EVENTS: usize = 65_536;

/// Encodes `events` as one batch.
///
/// # Examples
/// ```
/// use sweepwatch::{Event, Outcome, Protocol, Timestamp};
/// use sweepwatch_nats::wire;
/// let ev = Event::new(Timestamp::from_secs(1_700_000_000), "203.0.113.7".parse().unwrap(),
///     "10.0.0.1".parse().unwrap(), 22, Protocol::Tcp, Outcome::Refused);
/// let bytes = wire::encode(&[ev, ev]);
/// assert_eq!(wire::decode(&bytes).unwrap(), vec![ev, ev]);
/// ```
pub fn encode(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + events.len() * 32);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    // Writing to a Vec cannot fail.
    postcard::to_io(events, &mut out).expect("a Vec takes every write");
    out
}

/// Why a batch was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// It does not start with the batch magic number.
    NotABatch,
    /// Another format version.
    Format(u16),
    /// Its events could not be decoded (cut short, or corrupt).
    Corrupt(String),
    /// More than [`MAX_EVENTS`] events.
    TooMany(usize),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::NotABatch => f.write_str("not a sweepwatch event batch"),
            WireError::Format(v) => write!(
                f,
                "event batch format {v}; this sweepwatch reads format {FORMAT}"
            ),
            WireError::Corrupt(e) => write!(f, "corrupt event batch: {e}"),
            WireError::TooMany(n) => {
                write!(
                    f,
                    "event batch of {n} events, over the limit of {MAX_EVENTS}"
                )
            }
        }
    }
}

impl std::error::Error for WireError {}

/// Decodes a batch that [`encode`] made.
///
/// # Errors
/// A [`WireError`] for anything else: nothing from the wire is trusted.
pub fn decode(bytes: &[u8]) -> Result<Vec<Event>, WireError> {
    if bytes.len() < 6 || bytes[..4] != MAGIC {
        return Err(WireError::NotABatch);
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != FORMAT {
        return Err(WireError::Format(version));
    }
    let body = &bytes[6..];
    // The count comes first: an absurd one is refused before decoding.
    let count = varint_prefix(body).ok_or_else(|| WireError::Corrupt("no event count".into()))?;
    if count > MAX_EVENTS {
        return Err(WireError::TooMany(count));
    }
    let (events, rest): (Vec<Event>, _) =
        postcard::take_from_bytes(body).map_err(|e| WireError::Corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Corrupt(format!(
            "{} bytes after the events",
            rest.len()
        )));
    }
    Ok(events)
}

/// The unsigned LEB128 number a postcard sequence starts with.
fn varint_prefix(bytes: &[u8]) -> Option<usize> {
    let mut n: u64 = 0;
    for (i, b) in bytes.iter().take(10).enumerate() {
        n |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return usize::try_from(n).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sweepwatch::{Outcome, Protocol, Timestamp};

    fn ev(port: u16) -> Event {
        Event::new(
            Timestamp::from_micros(1_700_000_000_123_456),
            "2001:db8::7".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            port,
            Protocol::Udp,
            Outcome::Unanswered,
        )
        .with_zone(7)
    }

    #[test]
    fn batches_read_back_and_anything_else_is_refused() {
        let events: Vec<Event> = (0..100).map(ev).collect();
        let bytes = encode(&events);
        assert_eq!(decode(&bytes).unwrap(), events);
        assert_eq!(decode(b"nope"), Err(WireError::NotABatch));
        let mut other = bytes.clone();
        other[4] = 9;
        assert_eq!(decode(&other), Err(WireError::Format(9)));
        for cut in 6..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(decode(&longer), Err(WireError::Corrupt(_))));
        // A count past the limit is refused before anything is decoded.
        let mut absurd = b"SWEV\x01\x00".to_vec();
        absurd.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F]);
        assert!(matches!(decode(&absurd), Err(WireError::TooMany(_))));
    }

    proptest! {
        #[test]
        fn no_bytes_make_the_decoder_panic(body in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut bytes = b"SWEV\x01\x00".to_vec();
            bytes.extend_from_slice(&body);
            let _ = decode(&bytes);
            let _ = decode(&body);
        }
    }
}
