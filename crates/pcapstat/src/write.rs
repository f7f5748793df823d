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
