//! Files read as `sweepwatch detect` reads them: captures (pcap, pcapng, of
//! traffic or of flow export), Zeek's conn.log, Suricata's EVE, Argus and
//! nfdump CSV, gzip or zstd compressed or not, recognised by content.

use super::columns::Packed;
use super::config::config_of;
use super::decided;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use sweepwatch::order::{Reorder, Window};
use sweepwatch::{Detector, Event};
use sweepwatch_input::pcap::{CaptureReader, PcapOptions};
use sweepwatch_input::sniff::sniff;
use sweepwatch_input::{ReadOptions, ReadStats, Zones};

/// How files are read (the command's options of the same names).
struct Reading {
    pcap: PcapOptions,
    zones: Zones,
}

impl Reading {
    fn new(pending_unanswered: bool, flow_memory_mib: u64, zones: &str) -> PyResult<Self> {
        let zones = match zones {
            "none" => Zones::None,
            "vlan" => Zones::Vlan,
            "tenant" => Zones::Tenant,
            z => {
                return Err(PyValueError::new_err(format!(
                    "zones: {z:?} is none of \"none\", \"vlan\", \"tenant\""
                )))
            }
        };
        if flow_memory_mib == 0 {
            return Err(PyValueError::new_err("flow_memory: must be at least 1 MiB"));
        }
        Ok(Reading {
            pcap: PcapOptions {
                pending_unanswered,
                ..PcapOptions::with_memory_bytes(flow_memory_mib.saturating_mul(1 << 20))
            },
            zones,
        })
    }
}

/// Why a file could not be read, as Python's exceptions say it.
enum Failure {
    Open(std::io::Error),
    Read(String),
    Panic,
}

impl Failure {
    fn into_py(self, path: &str) -> PyErr {
        match self {
            // OSError(errno, text, filename) becomes FileNotFoundError,
            // PermissionError, ... as Python's own `open` would raise.
            Failure::Open(e) => match e.raw_os_error() {
                Some(code) => PyOSError::new_err((code, e.to_string(), path.to_string())),
                None => PyOSError::new_err(format!("{path}: {e}")),
            },
            Failure::Read(msg) => PyValueError::new_err(format!("{path}: {msg}")),
            Failure::Panic => PyRuntimeError::new_err(format!(
                "{path}: internal error while reading (please report it)"
            )),
        }
    }
}

/// Reads `path` through `captures` into `emit`; `sampling` gets what a
/// capture of sampled flow export declares.
fn read_one(
    path: &str,
    reading: &Reading,
    captures: &mut Option<CaptureReader>,
    sampling: &AtomicU32,
    emit: &mut (dyn FnMut(Event) + Send),
) -> Result<(String, ReadStats), Failure> {
    let file = std::fs::File::open(path).map_err(Failure::Open)?;
    let sniffed = sniff(file).map_err(|e| Failure::Read(e.message))?;
    let format = sniffed.format.to_string();
    let mut opts = ReadOptions {
        pcap: reading.pcap.clone(),
        zones: reading.zones,
        sampling: Some(sampling),
        ..ReadOptions::default()
    };
    // A reader that panics on input it did not foresee must not take the
    // interpreter down: the panic becomes this file's error.
    let stats = catch_unwind(AssertUnwindSafe(|| {
        sniffed.read_continuing(captures, &mut opts, emit)
    }))
    .map_err(|_| Failure::Panic)?
    .map_err(|e| Failure::Read(format!("{}: {}", e.location, e.message)))?;
    Ok((format, stats))
}

fn summary<'py>(
    py: Python<'py>,
    path: &str,
    format: &str,
    s: &ReadStats,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", path)?;
    d.set_item("format", format)?;
    d.set_item("records", s.records)?;
    d.set_item("events", s.events)?;
    d.set_item("skipped", s.skipped)?;
    d.set_item("malformed", s.malformed)?;
    d.set_item("truncated_at", s.truncated_at)?;
    Ok(d)
}

/// Detection over `paths` as `sweepwatch detect --json` does it: one
/// detector, captures read as one (a probe at the end of one file answered
/// in the next), events put in order within `reorder_window` events, final
/// extents at the end. Returns the verdicts as JSON and a summary per file.
#[pyfunction]
#[pyo3(signature = (paths, config_json=None, config_path=None, pending_unanswered=false, flow_memory_mib=64, reorder_window=1 << 20, zones="none"))]
#[allow(clippy::too_many_arguments)]
pub fn detect_files<'py>(
    py: Python<'py>,
    paths: Vec<String>,
    config_json: Option<&str>,
    config_path: Option<&str>,
    pending_unanswered: bool,
    flow_memory_mib: u64,
    reorder_window: usize,
    zones: &str,
) -> PyResult<(Vec<String>, Vec<Bound<'py, PyDict>>)> {
    let cfg = config_of(config_json, config_path)?;
    let engine_locality = cfg.keeps_engine_locality();
    let reading = Reading::new(pending_unanswered, flow_memory_mib, zones)?;
    let window = Window {
        micros: u64::MAX,
        max_events: reorder_window,
    };
    let result = py.detach(|| -> Result<_, (String, Failure)> {
        let det = Detector::new(cfg, decided::keep)
            .map_err(|e| (String::new(), Failure::Read(e.to_string())))?;
        let mut order: Reorder<()> = Reorder::new(window).ok_or_else(|| {
            (
                String::new(),
                Failure::Read(format!(
                    "reorder_window {reorder_window}: the memory cannot be had"
                )),
            )
        })?;
        let verdicts = std::sync::Mutex::new(Vec::new());
        let mut reports = Vec::new();
        let mut captures = None;
        let sampling = AtomicU32::new(0);
        // Each batch's verdicts as the command writes them: marked with the
        // largest sampling interval declared so far.
        let feed = |batch: &[Event]| {
            let _ = det.observe_batch(batch);
            let s = sampling.load(Ordering::Relaxed);
            verdicts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(decided::take_stamped(s));
        };
        for path in &paths {
            let mut emit = |mut ev: Event| {
                if !engine_locality {
                    ev.src_local = None;
                    ev.dst_local = None;
                }
                order.push(ev, (), |batch, _| feed(batch));
            };
            let (format, stats) = read_one(path, &reading, &mut captures, &sampling, &mut emit)
                .map_err(|f| (path.clone(), f))?;
            order.flush(|batch, _| feed(batch));
            reports.push((path.clone(), format, stats));
        }
        if let Some(c) = captures.as_mut() {
            c.finish(&mut |ev| order.push(ev, (), |batch, _| feed(batch)));
        }
        order.drain(|batch, _| feed(batch));
        let _ = det.flush();
        feed(&[]);
        let verdicts = verdicts.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok((verdicts, reports))
    });
    match result {
        Ok((verdicts, reports)) => {
            let reports = reports
                .iter()
                .map(|(p, f, s)| summary(py, p, f, s))
                .collect::<PyResult<Vec<_>>>()?;
            Ok((verdicts, reports))
        }
        Err((path, f)) => {
            decided::clear();
            Err(f.into_py(&path))
        }
    }
}

/// The events a file makes, in the file's order, as packed columns (see
/// `columns`): a dict of `bytes` (`ts`, `src`, `dst`, `src_port`,
/// `dst_port`, `proto`, `outcome`, `zone`, `technique`, `src_local`,
/// `dst_local`), `n`, and the reader's `summary`.
#[pyfunction]
#[pyo3(signature = (path, pending_unanswered=false, flow_memory_mib=64, zones="none"))]
pub fn read_events<'py>(
    py: Python<'py>,
    path: String,
    pending_unanswered: bool,
    flow_memory_mib: u64,
    zones: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let reading = Reading::new(pending_unanswered, flow_memory_mib, zones)?;
    let result = py.detach(|| {
        let mut packed = Packed::default();
        let mut n = 0usize;
        let mut captures = None;
        let sampling = AtomicU32::new(0);
        let mut emit = |ev: Event| {
            packed.push(&ev);
            n += 1;
        };
        let (format, stats) = read_one(&path, &reading, &mut captures, &sampling, &mut emit)?;
        if let Some(c) = captures.as_mut() {
            c.finish(&mut emit);
        }
        Ok::<_, Failure>((packed, n, format, stats))
    });
    let (p, n, format, stats) = result.map_err(|f| f.into_py(&path))?;
    let d = PyDict::new(py);
    d.set_item("n", n)?;
    for (k, v) in [
        ("ts", &p.ts),
        ("src", &p.src),
        ("dst", &p.dst),
        ("src_port", &p.src_port),
        ("dst_port", &p.dst_port),
        ("proto", &p.proto),
        ("outcome", &p.outcome),
        ("zone", &p.zone),
        ("technique", &p.technique),
        ("src_local", &p.src_local),
        ("dst_local", &p.dst_local),
    ] {
        d.set_item(k, PyBytes::new(py, v))?;
    }
    d.set_item("summary", summary(py, &path, &format, &stats)?)?;
    Ok(d)
}
