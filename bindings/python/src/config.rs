//! The detector's configuration from Python: a JSON object of the TOML
//! file's fields, checked field by field so that an error names the field.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use sweepwatch::Config;

/// A configuration from `json` (an object of `Config` fields; missing ones
/// keep their defaults), or from the TOML file at `path` with `json`'s
/// fields over it.
pub fn config_of(json: Option<&str>, path: Option<&str>) -> PyResult<Config> {
    let base = match path {
        None => serde_json::to_value(Config::default()).map_err(value_error)?,
        Some(p) => {
            // OSError(errno, text, filename): FileNotFoundError and its kin.
            let text = std::fs::read_to_string(p).map_err(|e| match e.raw_os_error() {
                Some(code) => {
                    pyo3::exceptions::PyOSError::new_err((code, e.to_string(), p.to_string()))
                }
                None => pyo3::exceptions::PyOSError::new_err(format!("{p}: {e}")),
            })?;
            let cfg = Config::from_toml_str(&text)
                .map_err(|e| PyValueError::new_err(format!("{p}: {e}")))?;
            serde_json::to_value(cfg).map_err(value_error)?
        }
    };
    let serde_json::Value::Object(mut fields) = base else {
        return Err(PyValueError::new_err("the configuration is no object"));
    };
    if let Some(json) = json {
        let given: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(value_error)?;
        for (key, value) in given {
            if !fields.contains_key(&key) {
                return Err(PyValueError::new_err(format!(
                    "invalid configuration: {key}: no such field (fields: {})",
                    fields.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
            // Each field alone first: a value of the wrong type is named.
            let mut one = serde_json::Map::new();
            one.insert(key.clone(), value.clone());
            if let Err(e) = serde_json::from_value::<Config>(serde_json::Value::Object(one)) {
                let msg = e.to_string();
                return Err(PyValueError::new_err(format!(
                    "invalid configuration: {key}: {msg}"
                )));
            }
            fields.insert(key, value);
        }
    }
    let cfg: Config =
        serde_json::from_value(serde_json::Value::Object(fields)).map_err(value_error)?;
    cfg.validate()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(cfg)
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("invalid configuration: {e}"))
}

/// Checks a configuration as [`config_of`] reads it; returns it whole (every
/// field, defaults filled in) as JSON.
#[pyfunction]
#[pyo3(signature = (json=None, path=None))]
pub fn check_config(json: Option<&str>, path: Option<&str>) -> PyResult<String> {
    let cfg = config_of(json, path)?;
    serde_json::to_string(&cfg).map_err(value_error)
}

/// The default configuration as JSON: every field and its default.
#[pyfunction]
pub fn config_fields() -> PyResult<String> {
    serde_json::to_string(&Config::default()).map_err(value_error)
}
