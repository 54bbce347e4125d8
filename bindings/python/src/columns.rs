//! Events from columns: the packed arrays the package's Python side makes
//! of numpy, pandas or pyarrow columns (`sweepwatch._columns`).
//!
//! | column | bytes per event | meaning |
//! |---|---|---|
//! | `ts` | 8 | microseconds since the Unix epoch, little-endian `i64` |
//! | `src`, `dst` | 4 or 17 | an IPv4 address as a little-endian `u32`, or a family byte (4 or 6) and 16 address bytes (IPv4 in the first 4) |
//! | `dst_port`, `src_port` | 2 | little-endian `u16` |
//! | `proto` | 1 | 0 TCP, 1 UDP, 2 ICMP, 3 other |
//! | `outcome` | 1 | 0 attempt, 1 established, 2 refused, 3 unanswered, 4 unsolicited |
//! | `zone` | 4 | little-endian `u32` |
//! | `technique` | 1 | the index of its name in [`TECHNIQUES`]; 255: the protocol's plain probe |
//! | `src_local`, `dst_local` | 1 | the engine's own view of the host (Zeek's `local_orig`, `local_resp`): 0 not local, 1 local, 2 not said |

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use sweepwatch::{Event, Outcome, Protocol, Technique, Timestamp};

/// The techniques a column names, by code (the core's numeric order).
pub const TECHNIQUES: [Technique; 11] = Technique::ALL;

/// The names of [`TECHNIQUES`], in order.
#[pyfunction]
pub fn technique_names() -> Vec<&'static str> {
    TECHNIQUES.iter().map(|t| t.as_str()).collect()
}

/// Borrowed columns of `n` events.
pub struct Columns<'a> {
    pub n: usize,
    pub ts: &'a [u8],
    pub src: &'a [u8],
    pub src_width: usize,
    pub dst: &'a [u8],
    pub dst_width: usize,
    pub dst_port: &'a [u8],
    pub proto: &'a [u8],
    pub outcome: &'a [u8],
    pub src_port: Option<&'a [u8]>,
    pub zone: Option<&'a [u8]>,
    pub technique: Option<&'a [u8]>,
    pub src_local: Option<&'a [u8]>,
    pub dst_local: Option<&'a [u8]>,
}

impl Columns<'_> {
    /// Checks that every column holds `n` events of its width.
    pub fn check(&self) -> PyResult<()> {
        let want = |name: &str, col: &[u8], width: usize| -> PyResult<()> {
            if col.len() != self.n * width {
                return Err(PyValueError::new_err(format!(
                    "column {name}: {} events where ts has {}",
                    col.len() / width.max(1),
                    self.n
                )));
            }
            Ok(())
        };
        for (name, w) in [("src", self.src_width), ("dst", self.dst_width)] {
            if w != 4 && w != 17 {
                return Err(PyValueError::new_err(format!(
                    "column {name}: addresses of {w} bytes"
                )));
            }
        }
        want("ts", self.ts, 8)?;
        want("src", self.src, self.src_width)?;
        want("dst", self.dst, self.dst_width)?;
        want("dst_port", self.dst_port, 2)?;
        want("proto", self.proto, 1)?;
        want("outcome", self.outcome, 1)?;
        if let Some(c) = self.src_port {
            want("src_port", c, 2)?;
        }
        if let Some(c) = self.zone {
            want("zone", c, 4)?;
        }
        if let Some(c) = self.technique {
            want("technique", c, 1)?;
        }
        if let Some(c) = self.src_local {
            want("src_local", c, 1)?;
        }
        if let Some(c) = self.dst_local {
            want("dst_local", c, 1)?;
        }
        Ok(())
    }

    /// Event `i`, or what is wrong with it.
    pub fn event(&self, i: usize) -> Result<Event, String> {
        let ts = i64::from_le_bytes(self.ts[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        let ts = u64::try_from(ts).map_err(|_| format!("row {i}: ts before 1970"))?;
        let src = address(&self.src[i * self.src_width..(i + 1) * self.src_width])
            .ok_or_else(|| format!("row {i}: src is no address"))?;
        let dst = address(&self.dst[i * self.dst_width..(i + 1) * self.dst_width])
            .ok_or_else(|| format!("row {i}: dst is no address"))?;
        let proto = match self.proto[i] {
            0 => Protocol::Tcp,
            1 => Protocol::Udp,
            2 => Protocol::Icmp,
            3 => Protocol::Other,
            p => return Err(format!("row {i}: protocol code {p}")),
        };
        let outcome = match self.outcome[i] {
            0 => Outcome::Attempt,
            1 => Outcome::Established,
            2 => Outcome::Refused,
            3 => Outcome::Unanswered,
            4 => Outcome::Unsolicited,
            o => return Err(format!("row {i}: outcome code {o}")),
        };
        let mut ev = Event::new(
            Timestamp::from_micros(ts),
            src,
            dst,
            u16_at(self.dst_port, i),
            proto,
            outcome,
        );
        if let Some(c) = self.src_port {
            ev.src_port = u16_at(c, i);
        }
        if let Some(c) = self.zone {
            ev.zone = u32::from_le_bytes(c[i * 4..i * 4 + 4].try_into().unwrap_or_default());
        }
        if let Some(c) = self.technique {
            match c[i] {
                255 => {}
                t => {
                    let t = *TECHNIQUES
                        .get(usize::from(t))
                        .ok_or_else(|| format!("row {i}: technique code {t}"))?;
                    if t.protocol() != proto {
                        return Err(format!(
                            "row {i}: technique {} is not of protocol {}",
                            t.as_str(),
                            proto.as_str()
                        ));
                    }
                    ev.technique = t;
                }
            }
        }
        if let Some(c) = self.src_local {
            ev.src_local = locality("src_local", c[i], i)?;
        }
        if let Some(c) = self.dst_local {
            ev.dst_local = locality("dst_local", c[i], i)?;
        }
        Ok(ev)
    }
}

/// A locality code (see the module's table) of column `name` at row `i`.
fn locality(name: &str, code: u8, i: usize) -> Result<Option<bool>, String> {
    match code {
        0 => Ok(Some(false)),
        1 => Ok(Some(true)),
        2 => Ok(None),
        c => Err(format!("row {i}: {name} code {c}")),
    }
}

/// The locality code of `local` (see the module's table).
fn locality_code(local: Option<bool>) -> u8 {
    match local {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    }
}

fn u16_at(col: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([col[i * 2], col[i * 2 + 1]])
}

/// An address in one of the packed forms.
fn address(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::from(u32::from_le_bytes(
            b.try_into().ok()?,
        )))),
        17 => match b[0] {
            4 => Some(IpAddr::V4(Ipv4Addr::new(b[1], b[2], b[3], b[4]))),
            6 => Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(&b[1..]).ok()?,
            ))),
            _ => None,
        },
        _ => None,
    }
}

/// Packs one address of the 17-byte form into `out`.
fn pack(ip: IpAddr, out: &mut Vec<u8>) {
    match ip {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend(a.octets());
            out.extend([0; 12]);
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend(a.octets());
        }
    }
}

/// Addresses given as strings, `ipaddress` objects, packed bytes (4 or 16)
/// or integers, packed 17 bytes each (see the module's table). An element
/// that is none of these raises `ValueError` (a string that is no address)
/// or `TypeError`, naming its row.
#[pyfunction]
pub fn pack_addresses<'py>(
    py: Python<'py>,
    column: &str,
    values: Vec<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::with_capacity(values.len() * 17);
    for (i, v) in values.iter().enumerate() {
        let ip = if let Ok(s) = v.cast::<PyString>() {
            let s = s.to_cow()?;
            s.trim().parse::<IpAddr>().map_err(|_| {
                PyValueError::new_err(format!("column {column}, row {i}: {s:?} is no IP address"))
            })?
        } else if let Ok(b) = v.cast::<PyBytes>() {
            bytes_address(b.as_bytes()).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "column {column}, row {i}: {} bytes are no address (4 or 16)",
                    b.as_bytes().len()
                ))
            })?
        } else if let Ok(n) = v.extract::<u128>() {
            // An integer: IPv4 below 2^32, as `ipaddress.ip_address` reads it.
            match u32::try_from(n) {
                Ok(n) => IpAddr::V4(Ipv4Addr::from(n)),
                Err(_) => IpAddr::V6(Ipv6Addr::from(n)),
            }
        } else if let Ok(packed) = v.getattr("packed") {
            let b = packed.cast::<PyBytes>().map_err(|_| {
                PyTypeError::new_err(format!("column {column}, row {i}: no address"))
            })?;
            bytes_address(b.as_bytes()).ok_or_else(|| {
                PyTypeError::new_err(format!("column {column}, row {i}: no address"))
            })?
        } else {
            return Err(PyTypeError::new_err(format!(
                "column {column}, row {i}: {} is no address (str, bytes, int or ipaddress)",
                v.get_type().name()?
            )));
        };
        pack(ip, &mut out);
    }
    Ok(PyBytes::new(py, &out))
}

/// Addresses packed 17 bytes each (see the module's table) as strings.
#[pyfunction]
pub fn unpack_addresses(packed: &[u8]) -> PyResult<Vec<String>> {
    packed
        .chunks(17)
        .map(|b| {
            address(b)
                .map(|ip| ip.to_string())
                .ok_or_else(|| PyValueError::new_err("no packed address"))
        })
        .collect()
}

fn bytes_address(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        16 => Some(IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?))),
        _ => None,
    }
}

/// Events as packed columns, for `read_events`.
#[derive(Default)]
pub struct Packed {
    pub ts: Vec<u8>,
    pub src: Vec<u8>,
    pub dst: Vec<u8>,
    pub src_port: Vec<u8>,
    pub dst_port: Vec<u8>,
    pub proto: Vec<u8>,
    pub outcome: Vec<u8>,
    pub zone: Vec<u8>,
    pub technique: Vec<u8>,
    pub src_local: Vec<u8>,
    pub dst_local: Vec<u8>,
}

impl Packed {
    /// Appends `ev`.
    pub fn push(&mut self, ev: &Event) {
        self.ts
            .extend((ev.ts.as_micros().min(i64::MAX as u64) as i64).to_le_bytes());
        pack(ev.src, &mut self.src);
        pack(ev.dst, &mut self.dst);
        self.src_port.extend(ev.src_port.to_le_bytes());
        self.dst_port.extend(ev.dst_port.to_le_bytes());
        self.proto.push(match ev.proto {
            Protocol::Tcp => 0,
            Protocol::Udp => 1,
            Protocol::Icmp => 2,
            Protocol::Other => 3,
        });
        self.outcome.push(match ev.outcome {
            Outcome::Attempt => 0,
            Outcome::Established => 1,
            Outcome::Refused => 2,
            Outcome::Unanswered => 3,
            Outcome::Unsolicited => 4,
        });
        self.zone.extend(ev.zone.to_le_bytes());
        self.technique.push(
            TECHNIQUES
                .iter()
                .position(|t| *t == ev.technique)
                .map_or(255, |i| i as u8),
        );
        self.src_local.push(locality_code(ev.src_local));
        self.dst_local.push(locality_code(ev.dst_local));
    }
}
