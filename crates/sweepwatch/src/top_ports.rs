//! The main ports of a source: a fixed-size top-ports list.

/// The eight most probed ports of a source (Space-Saving: a new port replaces
/// the least counted and inherits its count, so heavy ports are never lost).
#[derive(Clone, Copy, Debug, Default, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C)]
pub(crate) struct TopPorts {
    ports: [u16; 8],
    counts: [u16; 8],
    len: u8,
    /// Always 0: makes the padding a field, so the list is plain bytes.
    _pad: u8,
}

impl TopPorts {
    /// Whether its length fits its arrays.
    pub(crate) fn is_sound(&self) -> bool {
        usize::from(self.len) <= self.ports.len()
    }

    #[inline]
    pub(crate) fn add(&mut self, port: u16) {
        let n = usize::from(self.len);
        if let Some(i) = self.ports[..n].iter().position(|p| *p == port) {
            self.counts[i] = self.counts[i].saturating_add(1);
            return;
        }
        if n < self.ports.len() {
            self.ports[n] = port;
            self.counts[n] = 1;
            self.len += 1;
            return;
        }
        // Among equal counts the newest entry goes, so the first ports seen stay.
        let (i, _) = self
            .counts
            .iter()
            .enumerate()
            .rev()
            .min_by_key(|(_, c)| **c)
            .expect("eight entries");
        self.ports[i] = port;
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Writes the ports, most counted first, into `out`; returns how many.
    pub(crate) fn sorted_into(&self, out: &mut [u16; 8]) -> u8 {
        let n = usize::from(self.len);
        let mut idx = [0usize, 1, 2, 3, 4, 5, 6, 7];
        // Stable for equal counts: the earlier port stays first.
        idx[..n].sort_by_key(|&i| std::cmp::Reverse(self.counts[i]));
        for (o, &i) in out.iter_mut().zip(&idx[..n]) {
            *o = self.ports[i];
        }
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_ports_keep_the_heavy_ones() {
        let mut t = TopPorts::default();
        for i in 0..100u16 {
            t.add(445);
            t.add(1000 + i); // a long tail of one-off ports
            if i % 2 == 0 {
                t.add(139);
            }
        }
        let mut out = [0; 8];
        let n = t.sorted_into(&mut out);
        assert_eq!(n, 8);
        assert_eq!(out[0], 445);
        assert_eq!(out[1], 139);
    }
}
