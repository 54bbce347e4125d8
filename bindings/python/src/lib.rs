//! The native half of the Python package `sweepwatch`: the Rust detector and
//! readers behind a small interface that the package's Python modules wrap
//! (typed verdicts, columns from numpy, pandas or pyarrow, pictures).
//!
//! Verdicts cross into Python as the library's one JSON form
//! ([`sweepwatch::format::verdict_json`]), so `Verdict.to_dict()` is the
//! command's `--json` record, field for field.

use pyo3::prelude::*;

mod columns;
mod config;
mod decided;
mod detector;
mod files;

/// The module `sweepwatch._sweepwatch`.
#[pymodule]
fn _sweepwatch(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<detector::Detector>()?;
    m.add_function(wrap_pyfunction!(config::check_config, m)?)?;
    m.add_function(wrap_pyfunction!(config::config_fields, m)?)?;
    m.add_function(wrap_pyfunction!(files::detect_files, m)?)?;
    m.add_function(wrap_pyfunction!(files::read_events, m)?)?;
    m.add_function(wrap_pyfunction!(columns::pack_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(columns::unpack_addresses, m)?)?;
    m.add_function(wrap_pyfunction!(columns::technique_names, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
