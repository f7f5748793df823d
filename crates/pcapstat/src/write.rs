//! Writing tables to Parquet, CSV and NDJSON: zstd, key-value metadata, atomic rename, and
//! [`TableSet`]: the tables of one run written all-or-nothing.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
pub(crate) fn partition(
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
    let kv = parquet_metadata(table, source);
    let result = (|| {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        ParquetWriter::new(&file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(kv)))
            .finish(df)?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    })()
    .map_err(|e| disk_full(e, &path, df));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

/// The key-value metadata of a Parquet file of table `table`: pcapstat's own keys, then the
/// pairs of `source`.
pub(crate) fn parquet_metadata(table: &str, source: &ParquetSource) -> Vec<(String, String)> {
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
    kv
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
    pub(crate) fn extension(self) -> &'static str {
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
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ext = format.extension();
    let path = dir.join(format!("{file}.{ext}"));
    let tmp = dir.join(format!(".{file}.{ext}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut buf = std::io::BufWriter::new(&file);
        write_text_rows(&mut buf, df, format, true)?;
        std::io::Write::flush(&mut buf).map_err(io(&tmp))?;
        drop(buf);
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))
    })()
    .map_err(|e| disk_full(e, &path, df));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| path)
}

/// Writes the rows of `df` as CSV (with a header row when `header`) or NDJSON: durations as
/// integer nanoseconds (text has no duration type).
pub(crate) fn write_text_rows(
    out: &mut impl std::io::Write,
    df: &DataFrame,
    format: TextFormat,
    header: bool,
) -> Result<(), Error> {
    use polars::prelude::{CsvWriter, DataType, JsonFormat, JsonWriter, SerWriter};
    let mut text = df.clone();
    let durations: Vec<String> = df
        .schema()
        .iter()
        .filter(|(_, t)| matches!(t, DataType::Duration(_)))
        .map(|(n, _)| n.to_string())
        .collect();
    for name in &durations {
        let ns = df.column(name)?.cast(&DataType::Int64)?;
        text.with_column(ns)?;
    }
    match format {
        TextFormat::Csv => CsvWriter::new(out)
            .include_header(header)
            .finish(&mut text)?,
        TextFormat::Ndjson => JsonWriter::new(out)
            .with_json_format(JsonFormat::JsonLines)
            .finish(&mut text)?,
    }
    Ok(())
}

/// `e` as [`Error::DiskFull`] when it says the device is full (directly, or inside polars'
/// error), naming `path` and what the table needs; any other error unchanged.
pub(crate) fn disk_full(e: Error, path: &Path, df: &DataFrame) -> Error {
    let full = |io: &std::io::Error| {
        io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28)
    };
    let is_full = match &e {
        Error::Write { source, .. } => full(source),
        Error::Table(polars::error::PolarsError::IO { error, .. }) => full(error),
        Error::Table(other) => other.to_string().contains("No space left on device"),
        _ => false,
    };
    if !is_full {
        return e;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    // The name the file will have: without a table set's staging directory.
    let path: PathBuf = path
        .components()
        .filter(|c| !c.as_os_str().to_string_lossy().starts_with(STAGING))
        .collect();
    Error::DiskFull {
        path,
        needed: df.estimated_size() as u64,
        available: fs4::available_space(dir).ok(),
    }
}

/// The tables of one run, written all-or-nothing into a directory.
///
/// Every file is first written into a staging directory inside `dir`
/// (`.pcapstat-staging-PID-N`, which Hive readers skip as a hidden name); [`TableSet::commit`]
/// moves them into place at the end. Until then the files of an earlier run stay as they were;
/// a run that fails or is dropped removes its staging directory. A run killed mid-write (`kill
/// -9`, power loss) leaves its staging directory: the next [`TableSet::begin`] on the same
/// directory removes it (its process is gone). A run killed while moving files into place (a
/// window of a few renames) leaves a `.pcapstat-commit-PID-N` directory, which the next `begin`
/// finishes moving, so the set that readers see is the old one or the new one, never a mix once
/// a later run has started. Also removed: the `.FILE.tmp-PID` files of dead processes left by
/// earlier versions.
///
/// ```
/// # fn main() -> Result<(), pcapstat::Error> {
/// # let out = std::env::temp_dir().join(format!("pcapstat-doc-{}", std::process::id()));
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab/e_dns/capture.pcap");
/// let analysis = pcapstat::Analyzer::new().analyze_path(path)?;
/// let set = pcapstat::TableSet::begin(&out)?;
/// let meta = pcapstat::ParquetSource::default();
/// pcapstat::write_parquet(set.staging_dir(), "dns", &mut analysis.dns()?, &meta)?;
/// pcapstat::write_parquet(set.staging_dir(), "connections", &mut analysis.connections()?, &meta)?;
/// set.commit()?; // both files appear together
/// assert!(out.join("dns.parquet").exists() && out.join("connections.parquet").exists());
/// # std::fs::remove_dir_all(&out).ok();
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TableSet {
    dir: PathBuf,
    staging: PathBuf,
    name: String,
    committed: bool,
}

const STAGING: &str = ".pcapstat-staging-";
const COMMIT: &str = ".pcapstat-commit-";

impl TableSet {
    /// Starts a set in `dir` (created if missing): cleans up after dead runs and creates this
    /// run's staging directory.
    ///
    /// # Errors
    /// [`Error::Write`] when the directories cannot be created or cleaned.
    pub fn begin(dir: impl AsRef<Path>) -> Result<TableSet, Error> {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(write_error(&dir))?;
        recover(&dir)?;
        let name = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let staging = dir.join(format!("{STAGING}{name}"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(write_error(&staging))?;
        }
        std::fs::create_dir(&staging).map_err(write_error(&staging))?;
        Ok(TableSet {
            dir,
            staging,
            name,
            committed: false,
        })
    }

    /// Where this run writes its files (with [`write_parquet`], [`write_text`] and their
    /// partition forms), laid out as they will be in the target directory.
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Moves every staged file into place (replacing files of the same name) and removes the
    /// staging directory. Returns the final paths.
    ///
    /// # Errors
    /// [`Error::Write`] when a file cannot be moved; what was staged stays in a
    /// `.pcapstat-commit-…` directory that the next [`TableSet::begin`] finishes moving.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, Error> {
        let commit = self.dir.join(format!("{COMMIT}{}", self.name));
        std::fs::rename(&self.staging, &commit).map_err(write_error(&commit))?;
        self.committed = true;
        let moved = move_into(&commit, &self.dir)?;
        std::fs::remove_dir_all(&commit).map_err(write_error(&commit))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(moved)
    }
}

impl Drop for TableSet {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes one file at `path` atomically: `write` fills a hidden temporary file in the same
/// directory (named after `path`, else `fallback`), which is synced, then renamed over `path`;
/// an interrupted or failed run leaves no partial file at `path`.
pub(crate) fn write_file_atomically(
    path: &Path,
    fallback: &str,
    write: impl FnOnce(&std::fs::File) -> std::io::Result<()>,
) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| fallback.into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(write_error(&tmp))?;
        write(&file).map_err(write_error(&tmp))?;
        file.sync_all().map_err(write_error(&tmp))?;
        std::fs::rename(&tmp, path).map_err(write_error(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub(crate) fn write_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Write { path, source }
}

/// Moves every file below `from` to the same relative path below `to`; returns the new paths.
fn move_into(from: &Path, to: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut moved = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let src_dir = from.join(&rel);
        let entries = std::fs::read_dir(&src_dir).map_err(write_error(&src_dir))?;
        for entry in entries {
            let entry = entry.map_err(write_error(&src_dir))?;
            let rel = rel.join(entry.file_name());
            if entry
                .file_type()
                .map_err(write_error(&entry.path()))?
                .is_dir()
            {
                pending.push(rel);
            } else {
                let target = to.join(&rel);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
                }
                std::fs::rename(entry.path(), &target).map_err(write_error(&target))?;
                moved.push(target);
            }
        }
    }
    moved.sort();
    Ok(moved)
}

/// Whether the process `pid` is gone: `/proc/PID` is missing (on systems with `/proc`);
/// elsewhere nothing is taken for dead.
fn process_gone(pid: u32) -> bool {
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// The PID in `.pcapstat-staging-PID-N`, `.pcapstat-commit-PID-N` or `.FILE.tmp-PID`.
fn owner(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(STAGING)
        .or_else(|| name.strip_prefix(COMMIT))
        .map(|r| r.split('-').next().unwrap_or(""))
        .or_else(|| {
            name.starts_with('.')
                .then(|| name.rsplit_once(".tmp-").map(|(_, pid)| pid))
                .flatten()
        })?;
    rest.parse().ok()
}

/// Cleans up after dead runs in `dir`: finishes their commits, removes their staging
/// directories and temporary files (in `dir` and its table and partition directories).
fn recover(dir: &Path) -> Result<(), Error> {
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            match owner(&name) {
                Some(pid) if process_gone(pid) => {
                    if depth == 0 && name.starts_with(COMMIT) {
                        move_into(&path, dir)?;
                    }
                    let _ = if is_dir {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
                Some(_) => {}
                None if is_dir && depth < 2 => dirs.push((path, depth + 1)),
                None => {}
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pcapstat-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn frame() -> DataFrame {
        polars::df!("x" => [1i64, 2, 3]).unwrap()
    }

    /// A PID that no process has (Linux PIDs stay below 2^22).
    const DEAD: u32 = 4_000_000_000;

    #[test]
    fn a_set_appears_only_at_commit_and_a_dropped_set_leaves_nothing() {
        let dir = scratch("set");
        std::fs::write(dir.join("a.parquet"), b"old").unwrap();
        let set = TableSet::begin(&dir).unwrap();
        write_parquet(
            set.staging_dir(),
            "a",
            &mut frame(),
            &ParquetSource::default(),
        )
        .unwrap();
        write_text_partition(set.staging_dir(), "b", "c.pcap", &frame(), TextFormat::Csv).unwrap();
        assert_eq!(std::fs::read(dir.join("a.parquet")).unwrap(), b"old");
        assert!(!dir.join("b").exists());
        let written = set.commit().unwrap();
        assert_eq!(written.len(), 2);
        assert_ne!(std::fs::read(dir.join("a.parquet")).unwrap(), b"old");
        assert!(dir.join("b/capture=c.pcap/part.csv").exists());
        let names = |d: &Path| -> Vec<String> {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        };
        assert!(
            names(&dir).iter().all(|n| !n.starts_with('.')),
            "{:?}",
            names(&dir)
        );

        let set = TableSet::begin(&dir).unwrap();
        let staging = set.staging_dir().to_path_buf();
        write_parquet(
            &staging,
            "a",
            &mut polars::df!("y" => [1i64]).unwrap(),
            &ParquetSource::default(),
        )
        .unwrap();
        drop(set);
        assert!(!staging.exists());
        assert_eq!(written[0], dir.join("a.parquet"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn begin_cleans_up_after_dead_runs_and_finishes_their_commits() {
        let dir = scratch("recover");
        // A run killed while writing: its staging directory and an old-style temporary file.
        let staging = dir.join(format!("{STAGING}{DEAD}-0"));
        std::fs::create_dir_all(staging.join("http")).unwrap();
        std::fs::write(staging.join("dns.parquet"), b"half").unwrap();
        std::fs::create_dir_all(dir.join("dns/capture=x")).unwrap();
        std::fs::write(
            dir.join(format!("dns/capture=x/.part.parquet.tmp-{DEAD}")),
            b"t",
        )
        .unwrap();
        // A run killed while moving its files into place: one moved, one not.
        std::fs::write(dir.join("tls.parquet"), b"new").unwrap();
        std::fs::write(dir.join("connections.parquet"), b"old").unwrap();
        let commit = dir.join(format!("{COMMIT}{DEAD}-1"));
        std::fs::create_dir_all(&commit).unwrap();
        std::fs::write(commit.join("connections.parquet"), b"new").unwrap();
        // A live run's staging directory (ours) is left alone.
        let live = dir.join(format!("{STAGING}{}-99", std::process::id()));
        std::fs::create_dir_all(&live).unwrap();

        let set = TableSet::begin(&dir).unwrap();
        assert!(!staging.exists() && !commit.exists());
        assert!(!dir
            .join(format!("dns/capture=x/.part.parquet.tmp-{DEAD}"))
            .exists());
        assert_eq!(
            std::fs::read(dir.join("connections.parquet")).unwrap(),
            b"new"
        );
        assert!(live.exists());
        drop(set);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn owners_of_leftovers() {
        assert_eq!(owner(".pcapstat-staging-123-4"), Some(123));
        assert_eq!(owner(".pcapstat-commit-77-0"), Some(77));
        assert_eq!(owner(".http.parquet.tmp-555"), Some(555));
        assert_eq!(owner("http.parquet"), None);
        assert_eq!(owner("capture=a.tmp-1"), None);
    }

    /// A full device (`/dev/full` behind the temporary file's name) gives one error that names
    /// the file, what the table needs and the free space.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_full_device_is_named() {
        let dir = scratch("full");
        let tmp = dir.join(format!(".dns.parquet.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink("/dev/full", &tmp).unwrap();
        let e = write_parquet(&dir, "dns", &mut frame(), &ParquetSource::default()).unwrap_err();
        assert!(matches!(e, Error::DiskFull { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("no space left") && msg.contains("dns.parquet"),
            "{msg}"
        );
        assert!(msg.contains("free"), "{msg}");
        assert!(std::error::Error::source(&e).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
