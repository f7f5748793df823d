//! `pcapstat._native`: the native module of the Python package `pcapstat`.
//!
//! A thin layer: it builds a [`pcapstat::Analyzer`] and a [`pcapstat::Filter`] from the
//! arguments, runs the analysis without the GIL, and converts the results: the tables as
//! Arrow C streams (`__arrow_c_stream__`, read by Python polars without a copy), the
//! report as the CLI's JSON (`pcapstat analyze --format json`), the named figures as a dict.
//! Errors carry the CLI's messages. The Python side (`python/pcapstat/__init__.py`) documents
//! the API users see (docs/python.md).

use std::borrow::Cow;
use std::error::Error as StdError;
use std::path::PathBuf;

use pcapstat::core::{CaptureError, KeyLogError};
use pcapstat::figures::{definitions, Value};
use pcapstat::filter::{self, Filter};
use pcapstat::polars::prelude::{CompatLevel, DataFrame, PolarsResult};
use pcapstat::{Analysis, Analyzer, ParquetSource, Report, ReportOptions};
use polars_arrow::array::{Array, StructArray};
use polars_arrow::datatypes::{ArrowDataType, Field};
use polars_arrow::ffi::{export_iterator, ArrowArrayStream};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

// The exception classes are Python classes (`pcapstat/_errors.py`), so that `ReadError` can be
// both a `PcapstatError` and an `OSError`.
pyo3::import_exception!(pcapstat._errors, PcapstatError);
pyo3::import_exception!(pcapstat._errors, ReadError);

/// The table names, in the order of the CLI's outputs.
const TABLES: [&str; 6] = ["connections", "tls", "http", "dns", "websocket", "quic"];

/// `error` and its causes as anyhow's `{:#}` prints them (`outer: cause: cause`), the form of
/// the CLI's messages.
fn chain(error: &dyn StdError) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A failed analysis of the capture `name` as the exception the CLI's message describes:
/// `NAME: cannot read file: …` (a [`ReadError`], also an `OSError`) when the file cannot be
/// read, `NAME: not a pcap or pcapng file …` (a [`PcapstatError`]) otherwise.
fn analysis_error(name: Option<&str>, e: &pcapstat::Error) -> PyErr {
    let prefix = name.map_or(String::new(), |n| format!("{n}: "));
    match e {
        pcapstat::Error::Capture(CaptureError::Io(io)) => {
            ReadError::new_err(format!("{prefix}cannot read file: {}", chain(io)))
        }
        other => PcapstatError::new_err(format!("{prefix}{}", chain(other))),
    }
}

/// A key log that cannot be used: the CLI's message (`reading key log F: …`).
fn keylog_error(e: &pcapstat::Error) -> PyErr {
    match e {
        pcapstat::Error::KeyLog(KeyLogError::Io { .. }) => ReadError::new_err(e.to_string()),
        other => PcapstatError::new_err(other.to_string()),
    }
}

/// A filter value that is none of the accepted forms: the CLI's usage error, as a ValueError.
fn parse<T, E: std::fmt::Display>(
    what: &str,
    value: Option<&str>,
    f: impl Fn(&str) -> Result<T, E>,
) -> PyResult<Option<T>> {
    value
        .map(|v| {
            f(v).map_err(|e| PyValueError::new_err(format!("invalid value '{v}' for {what}: {e}")))
        })
        .transpose()
}

/// One capture's analysis, after the filter: what `pcapstat.Analysis` wraps.
#[pyclass(module = "pcapstat._native", frozen)]
struct NativeAnalysis {
    analysis: Analysis,
    report: Report,
    /// The CLI's JSON report of this capture.
    summary_json: String,
    /// `NAME: capture damaged at byte …`: the CLI's warning, when the capture is damaged.
    damage: Option<String>,
    /// The `pcapstat.options` Parquet metadata of the CLI (`idle_timeout=300s keylog=F`).
    options: String,
}

impl NativeAnalysis {
    /// The table `name` as a DataFrame; `None` for a name that is not one of [`TABLES`].
    fn frame(&self, name: &str) -> Option<Result<DataFrame, pcapstat::Error>> {
        Some(match name {
            "connections" => self.analysis.connections(),
            "tls" => self.analysis.tls(),
            "http" => self.analysis.http(),
            "dns" => self.analysis.dns(),
            "websocket" => self.analysis.websocket(),
            "quic" => self.analysis.quic(),
            _ => return None,
        })
    }
}

#[pymethods]
impl NativeAnalysis {
    /// The table `name` (`connections`, `tls`, `http`, `dns`, `websocket` or `quic`) as an
    /// Arrow C stream source.
    fn table(&self, name: &str) -> PyResult<Table> {
        let Some(frame) = self.frame(name) else {
            return Err(PyValueError::new_err(format!(
                "no table {name:?}: connections, tls, http, dns, websocket or quic"
            )));
        };
        frame
            .map(|frame| Table { frame })
            .map_err(|e| PcapstatError::new_err(chain(&e)))
    }

    /// The JSON report, as `pcapstat analyze --format json` prints it for this capture.
    #[getter]
    fn summary_json(&self) -> &str {
        &self.summary_json
    }

    /// The CLI's damage warning (`NAME: capture damaged at byte N after frame M: reason`).
    #[getter]
    fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    /// The CLI's `pcapstat.options` Parquet metadata for the options of this analysis.
    #[getter]
    fn parquet_options(&self) -> &str {
        &self.options
    }

    /// The name of the capture (the `capture` column), if it has one.
    #[getter]
    fn source(&self) -> Option<&str> {
        self.analysis.source()
    }

    /// Writes the tables as Parquet with pcapstat's writer (the CLI's): `DIR/TABLE.parquet`,
    /// or with `partition` `DIR/TABLE/capture=NAME/part.parquet` (Hive layout, NAME
    /// percent-encoded). `metadata`: key-value pairs after pcapstat's own keys. Each file is
    /// written under a temporary name and renamed. Returns the paths written.
    fn write_parquet(
        &self,
        py: Python<'_>,
        directory: PathBuf,
        partition: bool,
        metadata: Vec<(String, String)>,
    ) -> PyResult<Vec<PathBuf>> {
        let capture = match (partition, self.analysis.source()) {
            (true, None) => {
                return Err(PyValueError::new_err(
                    "a capture without a name has no partition: analyze(data, name=...)",
                ))
            }
            (_, name) => name.map(str::to_owned),
        };
        let source = ParquetSource { metadata };
        py.detach(|| -> Result<Vec<PathBuf>, pcapstat::Error> {
            let mut written = Vec::with_capacity(TABLES.len());
            for table in TABLES {
                // Every name of TABLES is a table (`frame` knows them all).
                let Some(frame) = self.frame(table) else {
                    continue;
                };
                let mut frame = frame?;
                written.push(match &capture {
                    Some(c) if partition => {
                        pcapstat::write_parquet_partition(&directory, table, c, &frame, &source)?
                    }
                    _ => pcapstat::write_parquet(&directory, table, &mut frame, &source)?,
                });
            }
            Ok(written)
        })
        .map_err(|e| PcapstatError::new_err(chain(&e)))
    }

    /// The named figures: name → int (counts; durations in ns), float (ratios), or None.
    fn figures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for f in self.report.figures.iter() {
            match f.value {
                None => out.set_item(&f.def.name, py.None())?,
                Some(Value::Count(n)) => out.set_item(&f.def.name, n)?,
                Some(Value::Duration(ns)) => out.set_item(&f.def.name, ns)?,
                Some(Value::Number(x)) => out.set_item(&f.def.name, x)?,
            }
        }
        Ok(out)
    }
}

/// A table, handed to Python through the Arrow PyCapsule interface.
#[pyclass(module = "pcapstat._native", frozen)]
struct Table {
    frame: DataFrame,
}

#[pymethods]
impl Table {
    /// Rows.
    #[getter]
    fn height(&self) -> usize {
        self.frame.height()
    }

    /// The Arrow C stream of the table (one struct array per record batch). The buffers are
    /// shared with the frame, not copied; `requested_schema` is ignored (the Arrow PyCapsule
    /// interface lets a producer keep its own types, here those of docs/metrics.md).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let stream = arrow_stream(self.frame.clone());
        // The capsule owns the stream; a consumer moves it out (leaving `release` null), and
        // the capsule's destructor drops what is left: `ArrowArrayStream`'s `Drop` releases a
        // stream nobody took. No `unsafe` here.
        PyCapsule::new_with_value(py, stream, c"arrow_array_stream")
    }
}

/// `frame` as an Arrow C stream: a struct array per record batch, in the newest Arrow types
/// polars writes (string views), which Python polars and pyarrow read as they are.
fn arrow_stream(mut frame: DataFrame) -> ArrowArrayStream {
    frame.align_chunks();
    let compat = CompatLevel::newest();
    let fields: Vec<Field> = frame
        .columns()
        .iter()
        .map(|c| c.field().to_arrow(compat))
        .collect();
    let dtype = ArrowDataType::Struct(fields);
    let batches: Vec<PolarsResult<Box<dyn Array>>> = frame
        .iter_chunks(compat, false)
        .map(|batch| {
            let height = batch.height();
            StructArray::try_new(dtype.clone(), height, batch.into_arrays(), None)
                .map(|a| a.boxed())
        })
        .collect();
    export_iterator(
        Box::new(batches.into_iter()),
        Field::new("".into(), dtype, false),
    )
}

/// What to analyse: a file, or a capture in memory.
enum Input {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// Analyse one capture (`path` or `data`). The Python wrapper (`pcapstat.analyze`) checks
/// and documents the arguments.
#[pyfunction]
#[pyo3(signature = (
    path=None, data=None, *, name=None, keylog=None, threads=0, idle_timeout=300.0, top=5,
    server=None, client=None, sni=None, port=None, since=None, until=None, embedded_secrets=true
))]
#[allow(clippy::too_many_arguments)] // the keyword arguments of pcapstat.analyze
fn analyze(
    py: Python<'_>,
    path: Option<PathBuf>,
    data: Option<&[u8]>,
    name: Option<String>,
    keylog: Option<PathBuf>,
    threads: usize,
    idle_timeout: f64,
    top: usize,
    server: Option<&str>,
    client: Option<&str>,
    sni: Option<&str>,
    port: Option<u16>,
    since: Option<&str>,
    until: Option<&str>,
    embedded_secrets: bool,
) -> PyResult<NativeAnalysis> {
    let input = match (path, data) {
        (Some(p), None) => Input::Path(p),
        (None, Some(d)) => Input::Bytes(d.to_vec()),
        _ => return Err(PyValueError::new_err("give a path or bytes, not both")),
    };
    if !(idle_timeout.is_finite() && idle_timeout > 0.0) {
        return Err(PyValueError::new_err(
            "idle_timeout must be a positive number of seconds",
        ));
    }
    let filter = Filter {
        server: parse("server", server, filter::parse_server)?,
        client: parse("client", client, filter::parse_client)?,
        sni: parse("sni", sni, filter::parse_name)?,
        port,
        since: parse("since", since, filter::parse_time)?,
        until: parse("until", until, filter::parse_time)?,
    };
    // Plain files are read, not memory-mapped: a file truncated while it is mapped would kill
    // the interpreter (SIGBUS); the tables are the same either way.
    let mut analyzer = Analyzer::new()
        .threads(threads)
        .idle_timeout_ns((idle_timeout * 1e9).round() as i64)
        .embedded_secrets(embedded_secrets);
    // As the CLI's `parquet_options`.
    let mut options = format!("idle_timeout={idle_timeout}s");
    if let Some(k) = &keylog {
        options.push_str(&format!(" keylog={}", k.display()));
    }
    if let Some(k) = keylog {
        analyzer = py
            .detach(|| analyzer.keylog_file(k))
            .map_err(|e| keylog_error(&e))?;
    }
    let name = match &input {
        Input::Path(p) => Some(p.display().to_string()),
        Input::Bytes(_) => name,
    };
    let report_options = ReportOptions { top };
    let run = py.detach(|| -> Result<_, pcapstat::Error> {
        let mut analysis = match input {
            Input::Path(p) => analyzer.analyze_path(p)?,
            Input::Bytes(b) => analyzer.analyze_bytes(b)?,
        };
        if let Some(n) = &name {
            analysis.set_source(n.clone());
        }
        let analysis = match analysis.filtered(&filter) {
            Cow::Borrowed(_) => analysis,
            Cow::Owned(a) => a,
        };
        let report = Report::of(&analysis, &report_options);
        Ok((analysis, report))
    });
    let (analysis, report) = run.map_err(|e| analysis_error(name.as_deref(), &e))?;
    let mut json = serde_json::to_value(&report)
        .map_err(|e| PcapstatError::new_err(format!("the JSON report: {e}")))?;
    if let serde_json::Value::Object(m) = &mut json {
        m.insert("file".into(), serde_json::json!(name));
        m.insert(
            "filter".into(),
            serde_json::json!((!filter.is_empty()).then(|| filter::flags(&filter))),
        );
    }
    let damage = report.summary.damaged.as_ref().map(|d| match &name {
        Some(n) => format!("{n}: {d}"),
        None => d.to_string(),
    });
    Ok(NativeAnalysis {
        analysis,
        report,
        summary_json: json.to_string(),
        damage,
        options,
    })
}

/// Every named figure: (name, unit, better, definition), in the order of docs/figures.md.
#[pyfunction]
fn figure_definitions() -> Vec<(String, &'static str, &'static str, String)> {
    definitions()
        .iter()
        .map(|d| {
            let better = match d.better {
                pcapstat::figures::Better::Lower => "lower",
                pcapstat::figures::Better::Higher => "higher",
                pcapstat::figures::Better::Neither => "neither",
            };
            (
                d.name.clone(),
                d.unit.as_str(),
                better,
                d.definition.clone(),
            )
        })
        .collect()
}

/// The directory-name form of a capture name in the Hive layout (`capture=VALUE`):
/// [`pcapstat::partition_value`].
#[pyfunction]
fn partition_value(name: &str) -> String {
    pcapstat::partition_value(name)
}

/// The capture files of a directory, as `pcapstat analyze DIR` lists them
/// ([`pcapstat::core::capture_files`]): natural name order, files that look like captures.
/// Errors carry the CLI's messages.
#[pyfunction]
fn capture_files(py: Python<'_>, directory: PathBuf) -> PyResult<Vec<String>> {
    let found = py.detach(|| pcapstat::core::capture_files(&directory));
    match found {
        Ok(found) if found.is_empty() => Err(PcapstatError::new_err(format!(
            "{}: a directory without a capture file (pcap, pcapng, gzip or zstd)",
            directory.display()
        ))),
        Ok(found) => Ok(found.iter().map(|p| p.display().to_string()).collect()),
        Err(e) => Err(ReadError::new_err(format!(
            "{}: {}",
            directory.display(),
            chain(&e)
        ))),
    }
}

/// The module `pcapstat._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(figure_definitions, m)?)?;
    m.add_function(wrap_pyfunction!(partition_value, m)?)?;
    m.add_function(wrap_pyfunction!(capture_files, m)?)?;
    m.add_class::<NativeAnalysis>()?;
    m.add_class::<Table>()?;
    m.add("TABLES", TABLES.to_vec())?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
