//! `sweepwatch._sweepwatch.Detector`: one detector, fed event by event or by
//! columns, from any number of Python threads.

use super::columns::Columns;
use super::config::config_of;
use super::decided;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use sweepwatch::{Event, Timestamp};

/// Events handed to the detector at a time: enough for its batch path to
/// prefetch, few enough to stay in cache.
const CHUNK: usize = 4096;

/// A detector (the Python class `sweepwatch.Detector` wraps it).
#[pyclass(frozen, module = "sweepwatch._sweepwatch")]
pub struct Detector {
    inner: sweepwatch::Detector,
    /// Whether events keep the engine's own view of which hosts are local
    /// (`src_local`, `dst_local`): only while the home networks are the
    /// defaults, as `sweepwatch detect` does; networks given replace it.
    engine_locality: bool,
}

fn runtime(e: sweepwatch::Error) -> PyErr {
    decided::clear();
    PyRuntimeError::new_err(e.to_string())
}

#[pymethods]
impl Detector {
    /// A detector configured by `config_json` (fields over the defaults)
    /// and the TOML file at `config_path`, if given.
    #[new]
    #[pyo3(signature = (config_json=None, config_path=None))]
    fn new(config_json: Option<&str>, config_path: Option<&str>) -> PyResult<Self> {
        let cfg = config_of(config_json, config_path)?;
        let engine_locality = cfg.keeps_engine_locality();
        let inner = sweepwatch::Detector::new(cfg, decided::keep)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Detector {
            inner,
            engine_locality,
        })
    }

    /// Observes `n` events of packed columns (see `columns`), without the
    /// GIL; returns the verdicts decided meanwhile, as JSON.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (n, ts, src, src_width, dst, dst_width, dst_port, proto, outcome, src_port=None, zone=None, technique=None, src_local=None, dst_local=None))]
    fn observe_columns(
        &self,
        py: Python<'_>,
        n: usize,
        ts: &Bound<'_, PyBytes>,
        src: &Bound<'_, PyBytes>,
        src_width: usize,
        dst: &Bound<'_, PyBytes>,
        dst_width: usize,
        dst_port: &Bound<'_, PyBytes>,
        proto: &Bound<'_, PyBytes>,
        outcome: &Bound<'_, PyBytes>,
        src_port: Option<&Bound<'_, PyBytes>>,
        zone: Option<&Bound<'_, PyBytes>>,
        technique: Option<&Bound<'_, PyBytes>>,
        src_local: Option<&Bound<'_, PyBytes>>,
        dst_local: Option<&Bound<'_, PyBytes>>,
    ) -> PyResult<Vec<String>> {
        let cols = Columns {
            n,
            ts: ts.as_bytes(),
            src: src.as_bytes(),
            src_width,
            dst: dst.as_bytes(),
            dst_width,
            dst_port: dst_port.as_bytes(),
            proto: proto.as_bytes(),
            outcome: outcome.as_bytes(),
            src_port: src_port.map(|b| b.as_bytes()),
            zone: zone.map(|b| b.as_bytes()),
            technique: technique.map(|b| b.as_bytes()),
            src_local: src_local.map(|b| b.as_bytes()),
            dst_local: dst_local.map(|b| b.as_bytes()),
        };
        cols.check()?;
        let engine_locality = self.engine_locality;
        let event = |j| {
            cols.event(j).map(|mut ev| {
                if !engine_locality {
                    (ev.src_local, ev.dst_local) = (None, None);
                }
                ev
            })
        };
        let det = &self.inner;
        // Python's bytes are immutable: the columns stay as they are while
        // other threads run.
        let fed = py.detach(
            || -> Result<Result<Vec<String>, String>, sweepwatch::Error> {
                // Checked whole first: a bad row refuses the call before any
                // event of it is observed.
                for i in 0..cols.n {
                    if let Err(e) = cols.event(i) {
                        return Ok(Err(e));
                    }
                }
                let mut chunk: Vec<Event> = Vec::with_capacity(CHUNK.min(cols.n));
                let mut i = 0;
                while i < cols.n {
                    chunk.clear();
                    let end = (i + CHUNK).min(cols.n);
                    chunk.extend((i..end).filter_map(|j| event(j).ok()));
                    det.observe_batch(&chunk)?;
                    i = end;
                }
                Ok(Ok(decided::take_json()))
            },
        );
        match fed {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(PyValueError::new_err(msg)),
            Err(e) => Err(runtime(e)),
        }
    }

    /// Feeds what is still held and reports every reported source's final
    /// extent; returns the verdicts as JSON.
    fn flush(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let det = &self.inner;
        py.detach(|| det.flush().map(|()| decided::take_json()))
            .map_err(runtime)
    }

    /// Moves the detector's clock to `micros` (microseconds since the
    /// epoch): sources idle past their timeout end, and their final extents
    /// are returned as JSON.
    fn advance(&self, py: Python<'_>, micros: u64) -> PyResult<Vec<String>> {
        let det = &self.inner;
        py.detach(|| {
            det.advance(Timestamp::from_micros(micros))
                .map(|()| decided::take_json())
        })
        .map_err(runtime)
    }

    /// The detector's counters, as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats().map_err(runtime)?;
        let d = PyDict::new(py);
        for (k, v) in [
            ("events", s.events),
            ("ignored", s.ignored),
            ("allowed", s.allowed),
            ("unsolicited", s.unsolicited),
            ("duplicates", s.duplicates),
            ("sources", s.sources),
            ("capacity", s.capacity),
            ("evicted", s.evicted),
            ("expired", s.expired),
            ("with_evidence", s.with_evidence),
            ("evidence_denied", s.evidence_denied),
            ("verdicts", s.verdicts),
            ("memory_bytes", s.memory_bytes),
            ("filter_rotations", s.filter_rotations),
            ("turned_away", s.turned_away),
            ("collisions", s.collisions),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}
