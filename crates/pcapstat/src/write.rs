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
    write_parquet_file(dir, table, table, df, source)
}

/// Writes the rows of one capture in the Hive layout `DIR/TABLE/capture=NAME/part.parquet`
/// that pyarrow, pandas, polars (`scan_parquet(..., hive_partitioning=True)`), DuckDB
/// (`hive_partitioning = true`) and Spark read as one dataset with a `capture` column.
///
/// `capture` is the value of the `capture` column (the path the capture was read from);
/// it is percent-encoded into the directory name ([`partition_value`]), which all those
/// readers decode. The `capture` column itself is left out of the file, as Hive writers do:
/// the readers add it from the directory name (a file that also held it would make pandas fail
/// to merge the two). Metadata, compression and the write-then-rename are those of
/// [`write_parquet`]. Returns the path written.
///
/// # Errors
/// [`Error::Write`] for I/O errors, [`Error::Table`] if polars fails to encode.
pub fn write_parquet_partition(
    dir: &Path,
    table: &str,
    capture: &str,
    df: &DataFrame,
    source: &ParquetSource,
) -> Result<PathBuf, Error> {
    let (part, mut df) = partition(dir, table, capture, df)?;
    write_parquet_file(&part, table, "part", &mut df, source)
}

/// The Hive partition of one capture's rows: `DIR/TABLE/capture=NAME`, and the frame without
/// its `capture` column (the readers rebuild it from the directory name).
fn partition(
    dir: &Path,
    table: &str,
    capture: &str,
    df: &DataFrame,
) -> Result<(PathBuf, DataFrame), Error> {
    let part = dir
        .join(table)
        .join(format!("capture={}", partition_value(capture)));
    let df = match df.get_column_index("capture") {
        Some(_) => df.drop("capture")?,
        None => df.clone(),
    };
    Ok((part, df))
}

/// The directory-name form of a partition value: bytes other than ASCII letters, digits, `-`,
/// `_` and `.` are written as `%XX` (uppercase hex of each UTF-8 byte), so `/`, `=`, `%`,
/// spaces and non-ASCII names survive the round trip through any Hive reader. A value
/// starting with `.` or `_` has that first byte encoded too, since readers skip such names.
pub fn partition_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, b) in value.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if keep && !(i == 0 && matches!(b, b'.' | b'_')) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Writes `df` as `DIR/FILE.parquet` with the metadata of table `table`.
fn write_parquet_file(
    dir: &Path,
    table: &str,
    file: &str,
    df: &mut DataFrame,
    source: &ParquetSource,
) -> Result<PathBuf, Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(format!("{file}.parquet"));
    let tmp = dir.join(format!(".{file}.parquet.tmp-{}", std::process::id()));
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
    write_text_file(dir, table, df, format)
}

/// Writes the rows of one capture as `DIR/TABLE/capture=NAME/part.csv` (or `.ndjson`), the
/// Hive layout of [`write_parquet_partition`]: the `capture` column is left out of the file and
/// its percent-encoded value names the directory. Returns the path written.
///
/// # Errors
/// [`Error::Write`] for I/O errors, [`Error::Table`] if polars fails to encode.
pub fn write_text_partition(
    dir: &Path,
    table: &str,
    capture: &str,
    df: &DataFrame,
    format: TextFormat,
) -> Result<PathBuf, Error> {
    let (part, df) = partition(dir, table, capture, df)?;
    write_text_file(&part, "part", &df, format)
}

fn write_text_file(
    dir: &Path,
    file: &str,
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
    let path = dir.join(format!("{file}.{ext}"));
    let tmp = dir.join(format!(".{file}.{ext}.tmp-{}", std::process::id()));
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

#[cfg(test)]
mod tests {
    use super::partition_value;

    #[test]
    fn partition_values_escape_what_a_directory_name_cannot_hold() {
        assert_eq!(partition_value("capture.pcap"), "capture.pcap");
        assert_eq!(
            partition_value("testdata/lab/e_dns/capture.pcap"),
            "testdata%2Flab%2Fe_dns%2Fcapture.pcap"
        );
        assert_eq!(partition_value("a b=c%d"), "a%20b%3Dc%25d");
        assert_eq!(partition_value(".hidden"), "%2Ehidden");
        assert_eq!(partition_value("_tmp"), "%5Ftmp");
        assert_eq!(partition_value("é"), "%C3%A9");
        assert_eq!(partition_value("-"), "-");
    }
}
