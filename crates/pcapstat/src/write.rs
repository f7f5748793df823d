//! Writing tables to Parquet: zstd, key-value metadata, atomic rename.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, KeyValueMetadata, ParquetCompression, ParquetWriter};

use crate::error::Error;
use crate::tables::SCHEMA_VERSION;

/// Key-value metadata written into every Parquet file besides pcapstat's own
/// (`pcapstat.version`, `pcapstat.schema_version`, `pcapstat.table`).
#[derive(Debug, Clone, Default)]
pub struct ParquetSource {
    /// Extra `(key, value)` pairs, for example the source capture and the options used.
    pub metadata: Vec<(String, String)>,
}

/// Writes `df` as `DIR/TABLE.parquet`, zstd-compressed, with metadata: `pcapstat.version`,
/// `pcapstat.schema_version`, `pcapstat.table` and the pairs of `source`.
///
/// The file is written under a temporary name in the same directory and renamed when complete,
/// so an interrupted run never leaves a partial file under the final name. `dir` is created if
/// missing. Returns the path written.
///
/// # Errors
/// [`Error::Write`] for I/O errors, [`Error::Table`] if polars fails to encode.
pub fn write_parquet(
    dir: &Path,
    table: &str,
    df: &mut DataFrame,
    source: &ParquetSource,
) -> Result<PathBuf, Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("{table}.parquet"));
    let tmp = dir.join(format!(".{table}.parquet.tmp-{}", std::process::id()));
    let mut kv = vec![
        (
            "pcapstat.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "pcapstat.schema_version".to_string(),
            SCHEMA_VERSION.to_string(),
        ),
        ("pcapstat.table".to_string(), table.to_string()),
    ];
    kv.extend(source.metadata.iter().cloned());
    let result = (|| {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        ParquetWriter::new(&file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(kv)))
            .finish(df)?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

/// Text formats for readers without Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFormat {
    /// Comma-separated values with a header row; null is an empty field.
    Csv,
    /// One JSON object per row and line; null is `null`.
    Ndjson,
}

impl TextFormat {
    fn extension(self) -> &'static str {
        match self {
            TextFormat::Csv => "csv",
            TextFormat::Ndjson => "ndjson",
        }
    }
}

/// Writes `df` as `DIR/TABLE.csv` or `DIR/TABLE.ndjson`, with the same columns as the Parquet
/// file. Text has no duration type, so durations are written as integer nanoseconds (the column
/// names stay the same); timestamps as RFC 3339 text in UTC. Written under a temporary name and
/// renamed, as [`write_parquet`]. Returns the path written.
///
/// # Errors
/// [`Error::Write`] for I/O errors, [`Error::Table`] if polars fails to encode.
pub fn write_text(
    dir: &Path,
    table: &str,
    df: &DataFrame,
    format: TextFormat,
) -> Result<PathBuf, Error> {
    use polars::prelude::{CsvWriter, DataType, JsonFormat, JsonWriter, SerWriter};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ext = format.extension();
    let path = dir.join(format!("{table}.{ext}"));
    let tmp = dir.join(format!(".{table}.{ext}.tmp-{}", std::process::id()));
    let mut out = df.clone();
    let durations: Vec<String> = df
        .schema()
        .iter()
        .filter(|(_, t)| matches!(t, DataType::Duration(_)))
        .map(|(n, _)| n.to_string())
        .collect();
    for name in &durations {
        let ns = df.column(name)?.cast(&DataType::Int64)?;
        out.with_column(ns)?;
    }
    let result = (|| {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut buf = std::io::BufWriter::new(&file);
        match format {
            TextFormat::Csv => CsvWriter::new(&mut buf).finish(&mut out)?,
            TextFormat::Ndjson => JsonWriter::new(&mut buf)
                .with_json_format(JsonFormat::JsonLines)
                .finish(&mut out)?,
        }
        std::io::Write::flush(&mut buf).map_err(io(&tmp))?;
        drop(buf);
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}
