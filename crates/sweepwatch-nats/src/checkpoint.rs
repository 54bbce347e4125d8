//! A partition's checkpoint: the stream sequence it covers, the events its
//! ordering window held, and its detector's saved state.

use sweepwatch::order::Held;
use sweepwatch::Event;

const MAGIC: [u8; 4] = *b"SWCK";
/// The checkpoint format (the detector's state has its own version inside).
const FORMAT: u16 = 1;

/// What a checkpoint holds, the detector's state still as bytes.
pub(crate) struct Checkpoint {
    /// The last stream sequence whose events are in the detector or held.
    pub seq: u64,
    /// The ordering window's events.
    pub held: Held<Event, ()>,
    /// [`sweepwatch::Detector::save`]'s bytes.
    pub state: Vec<u8>,
}

impl Checkpoint {
    /// The checkpoint as bytes: magic, format, sequence, the held events'
    /// length and postcard bytes, then the detector's state.
    pub fn encode(seq: u64, held: &Held<Event, ()>, state: &[u8]) -> Vec<u8> {
        let held = postcard::to_stdvec(held).expect("a Vec takes every write");
        let mut out = Vec::with_capacity(22 + held.len() + state.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(held.len() as u64).to_le_bytes());
        out.extend_from_slice(&held);
        out.extend_from_slice(state);
        out
    }

    /// Reads what [`encode`](Self::encode) wrote. The detector's state is
    /// checked when it is restored (it carries its own checksum).
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
        if bytes.len() < 22 || bytes[..4] != MAGIC {
            return Err("not a sweepwatch checkpoint".into());
        }
        let format = u16::from_le_bytes([bytes[4], bytes[5]]);
        if format != FORMAT {
            return Err(format!(
                "checkpoint format {format}; this sweepwatch reads format {FORMAT}"
            ));
        }
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let seq = word(6);
        let n = usize::try_from(word(14)).unwrap_or(usize::MAX);
        let rest = &bytes[22..];
        if n > rest.len() {
            return Err("checkpoint cut short".into());
        }
        let held = postcard::from_bytes(&rest[..n])
            .map_err(|e| format!("checkpoint's held events: {e}"))?;
        Ok(Checkpoint {
            seq,
            held,
            state: rest[n..].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweepwatch::{Outcome, Protocol, Timestamp};

    #[test]
    fn a_checkpoint_reads_back_and_cuts_are_refused() {
        let ev = Event::new(
            Timestamp::from_secs(1_700_000_000),
            "203.0.113.7".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            22,
            Protocol::Tcp,
            Outcome::Refused,
        );
        let held = Held {
            events: vec![(ev, ()), (ev, ())],
            newest: Timestamp::from_secs(1_700_000_001),
            early: 3,
        };
        let bytes = Checkpoint::encode(42, &held, b"state");
        let c = Checkpoint::decode(&bytes).unwrap();
        assert_eq!((c.seq, &c.held, &c.state[..]), (42, &held, &b"state"[..]));
        for cut in 0..bytes.len() - 5 {
            assert!(Checkpoint::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
