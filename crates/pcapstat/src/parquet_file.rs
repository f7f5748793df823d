//! A Parquet file written row group by row group whose memory does not grow with its rows.
//!
//! Each frame of a table (at most 4096 rows) is encoded and compressed into the open row
//! group's pages as it comes ([`ParquetFile::add_frame`]), with polars-parquet's own encoder
//! (the same statistics and zstd); only those pages are kept until the row group ends
//! ([`ParquetFile::end_row_group`]), never the frames, which are not concatenated. The pages of
//! one column chunk come from several frames, so every column is PLAIN-encoded (zstd still
//! compresses repeated values): polars would dictionary-encode each frame on its own, and a
//! column chunk can hold one dictionary page only.
//!
//! polars' writer (`BatchedWriter`, polars-parquet's `FileWriter`) keeps, until the footer, a
//! page specification for every page it wrote: the page's whole header, its statistics twice
//! and its column's type, about 850 bytes a page, for the page index it writes at the end. A
//! streamed table writes a page per column per frame (4096 rows), so that record grew with the
//! capture: 4.4 MB at 410 k HTTP rows, the largest part of what still grew (docs/performance.md,
//! "The Parquet page index").
//!
//! [`ParquetFile::end_row_group`] writes each row group with polars-parquet's own writer, so the pages, the
//! column chunks, their statistics and the page index are polars' bytes, into the file at once
//! through a [`Sink`] that shifts nothing and copies nothing: the row group's part of that
//! writer's output (pages and column metadata) goes to the file, and only its page index (a
//! column index and an offset index per column chunk, a few dozen bytes a page) is kept, moved
//! to the row group's place in the file. The footer, written by [`ParquetFile::finish`], is
//! polars' footer for the schema (same schema elements, column orders, `created_by`) with the
//! row groups and the page indexes of all.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::rc::Rc;

use polars::io::parquet::write::{get_encodings, StatisticsOptions};
use polars::prelude::{CompatLevel, DataFrame, ParquetCompression, PolarsError};
use polars_arrow::datatypes::ArrowSchema;
use polars_parquet::write::{
    array_to_columns, compress, to_parquet_schema, CompressedPage, DynIter, DynStreamingIterator,
    Encoding, FileWriter, KeyValue, SchemaDescriptor, ThriftFileMetadata, Version, WriteOptions,
};
use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{OffsetIndex, RowGroup};

use crate::error::Error;
use crate::write::write_error;

/// A row group's page index, moved to the end of the file by [`ParquetFile::finish`].
struct ChunkIndex {
    /// The column index (per page: minimum, maximum, null count), as polars serialised it.
    column: Option<Box<[u8]>>,
    /// The offset index (per page: offset, size, first row), with the offsets of the final file.
    offset: Box<[u8]>,
}

/// What polars' writer writes for one row group: the file's header and the row group go on to
/// the file (the header's 4 bytes skipped: the file has its own), and once `tail` is set, what
/// follows (page index and footer) is kept in `kept`.
struct Sink<'a> {
    file: &'a mut BufWriter<File>,
    /// Bytes of polars' file header still to skip.
    skip: usize,
    tail: Rc<Cell<bool>>,
    /// Bytes that went on to the file.
    forwarded: u64,
    kept: Vec<u8>,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let skipped = self.skip.min(buf.len());
        self.skip -= skipped;
        let rest = &buf[skipped..];
        if self.tail.get() {
            self.kept.extend_from_slice(rest);
        } else {
            self.file.write_all(rest)?;
            self.forwarded += rest.len() as u64;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The 4 bytes that begin and end a Parquet file.
const MAGIC: &[u8; 4] = b"PAR1";

/// A Parquet file being written: see the module's documentation.
pub(crate) struct ParquetFile {
    path: PathBuf,
    file: BufWriter<File>,
    /// Bytes written to the file so far.
    position: u64,
    schema: ArrowSchema,
    parquet_schema: SchemaDescriptor,
    options: WriteOptions,
    /// The encoding of each column's leaves: PLAIN.
    encodings: Vec<Vec<Encoding>>,
    /// The open row group: the compressed pages of each leaf column, in order, and its rows.
    pages: Vec<Vec<CompressedPage>>,
    rows: usize,
    /// The row groups written.
    row_groups: Vec<RowGroup>,
    /// Per row group, per column chunk.
    indexes: Vec<Vec<ChunkIndex>>,
}

/// A Parquet (thrift) error as a polars one, as polars reports its own.
fn thrift(e: polars_parquet_format::thrift::Error) -> PolarsError {
    PolarsError::ComputeError(format!("Parquet metadata: {e}").into())
}

/// A value of the file as a Parquet (signed) offset or length.
fn signed<T: TryFrom<u64>>(v: u64) -> Result<T, PolarsError> {
    T::try_from(v).map_err(|_| PolarsError::ComputeError("Parquet offset out of range".into()))
}

impl ParquetFile {
    /// Starts the file (its header) of a table of `schema` at `path`, already created as
    /// `file`: zstd, polars' default statistics, Parquet 1 pages, as polars' own writer.
    pub(crate) fn new(
        path: PathBuf,
        file: File,
        schema: &polars::prelude::Schema,
    ) -> Result<ParquetFile, Error> {
        let schema = polars::prelude::SchemaExt::to_arrow(schema, CompatLevel::newest());
        let parquet_schema = to_parquet_schema(&schema)?;
        let encodings = get_encodings(&schema)
            .iter()
            .map(|leaves| vec![Encoding::Plain; leaves.len()])
            .collect();
        let leaves = parquet_schema.columns().len();
        let mut file = BufWriter::with_capacity(1 << 16, file);
        file.write_all(MAGIC).map_err(write_error(&path))?;
        Ok(ParquetFile {
            path,
            file,
            position: MAGIC.len() as u64,
            schema,
            parquet_schema,
            options: WriteOptions {
                statistics: StatisticsOptions::default(),
                compression: ParquetCompression::Zstd(None).into(),
                version: Version::V1,
                data_page_size: None,
            },
            encodings,
            pages: (0..leaves).map(|_| Vec::new()).collect(),
            rows: 0,
            row_groups: Vec::new(),
            indexes: Vec::new(),
        })
    }

    /// Encodes and compresses the columns of `df` into the open row group's pages (the frame
    /// is not kept).
    pub(crate) fn add_frame(&mut self, df: &DataFrame) -> Result<(), Error> {
        let parquet = |e: polars_parquet::parquet::error::ParquetError| {
            PolarsError::ComputeError(e.to_string().into())
        };
        for batch in df.iter_chunks(CompatLevel::newest(), false) {
            let mut leaf = 0;
            for ((array, field), encoding) in batch
                .columns()
                .iter()
                .zip(self.parquet_schema.fields())
                .zip(&self.encodings)
            {
                let columns = array_to_columns(array, field.clone(), self.options, encoding)?;
                for pages in columns {
                    let kept = self.pages.get_mut(leaf).ok_or_else(|| {
                        PolarsError::ComputeError("more Parquet leaves than the schema's".into())
                    })?;
                    for page in pages {
                        let mut page = compress(page?, Vec::new(), self.options.compression)
                            .map_err(parquet)?;
                        // The compressor reserves its worst case (more than the page's
                        // uncompressed size): kept pages keep only their bytes.
                        match &mut page {
                            CompressedPage::Data(data) => data.slice_mut().to_mut().shrink_to_fit(),
                            // Only a dictionary-typed column would make one (no table has one).
                            CompressedPage::Dict(_) => {
                                return Err(PolarsError::ComputeError(
                                    "a dictionary page in a streamed row group".into(),
                                )
                                .into())
                            }
                        }
                        kept.push(page);
                    }
                    leaf += 1;
                }
            }
            self.rows += batch.len();
        }
        Ok(())
    }

    /// Writes the open row group (if it has rows) and starts the next one.
    pub(crate) fn end_row_group(&mut self) -> Result<(), Error> {
        if self.rows > 0 {
            let pages = std::mem::take(&mut self.pages);
            let written = self.write_row_group(self.rows as u64, &pages);
            self.pages = pages.into_iter().map(|_| Vec::new()).collect();
            written?;
        }
        self.rows = 0;
        Ok(())
    }

    /// Writes a row group of `rows` rows whose leaf columns have the pages `columns`.
    fn write_row_group(&mut self, rows: u64, columns: &[Vec<CompressedPage>]) -> Result<(), Error> {
        let tail = Rc::new(Cell::new(false));
        let sink = Sink {
            file: &mut self.file,
            skip: MAGIC.len(),
            tail: Rc::clone(&tail),
            forwarded: 0,
            kept: Vec::new(),
        };
        let mut writer = FileWriter::new_with_parquet_schema(
            sink,
            self.schema.clone(),
            self.parquet_schema.clone(),
            self.options,
        );
        let group = DynIter::new(columns.iter().map(|pages| {
            Ok(DynStreamingIterator::new(
                polars_parquet::write::fallible_streaming_iterator::convert(
                    pages.iter().map(Ok::<_, PolarsError>),
                ),
            ))
        }));
        writer.write(rows, group)?;
        // Everything after the row group (its page index, the footer) is kept, not written.
        tail.set(true);
        writer.end(Some(Vec::new()))?;
        let (sink, metadata) = writer.into_inner_and_metadata();
        let (forwarded, kept) = (sink.forwarded, sink.kept);
        let group =
            metadata.row_groups.into_iter().next().ok_or_else(|| {
                PolarsError::ComputeError("polars' writer wrote no row group".into())
            })?;
        self.add_row_group(group, forwarded, &kept)
    }

    /// Moves the row group `group`, written by polars' writer to a file of its own (header,
    /// the row group's `forwarded` bytes, then `kept`: page index and footer), to its place in
    /// this file, where those `forwarded` bytes were written.
    fn add_row_group(
        &mut self,
        mut group: RowGroup,
        forwarded: u64,
        kept: &[u8],
    ) -> Result<(), Error> {
        // Where the row group's own file put what was kept, and how far its row group moved.
        let kept_at = signed::<i64>(forwarded)? + MAGIC.len() as i64;
        let shift = signed::<i64>(self.position)? - MAGIC.len() as i64;
        let slice = |offset: Option<i64>, length: Option<i32>| -> Result<Option<&[u8]>, Error> {
            let (Some(offset), Some(length)) = (offset, length) else {
                return Ok(None);
            };
            let start = usize::try_from(offset - kept_at).ok();
            let end = start.and_then(|s| s.checked_add(usize::try_from(length).ok()?));
            match (start, end) {
                (Some(start), Some(end)) if end <= kept.len() => Ok(Some(&kept[start..end])),
                _ => Err(PolarsError::ComputeError(
                    "polars' page index lies outside what it wrote".into(),
                )
                .into()),
            }
        };
        let mut indexes = Vec::with_capacity(group.columns.len());
        for chunk in &mut group.columns {
            let column =
                slice(chunk.column_index_offset, chunk.column_index_length)?.map(Box::<[u8]>::from);
            let offset = match slice(chunk.offset_index_offset, chunk.offset_index_length)? {
                Some(bytes) => {
                    // The budget is for the decoded values (24 bytes a page location from ~8 encoded).
                    let mut input =
                        TCompactInputProtocol::new(bytes, bytes.len().saturating_mul(64));
                    let mut index =
                        OffsetIndex::read_from_in_protocol(&mut input).map_err(thrift)?;
                    for page in &mut index.page_locations {
                        page.offset += shift;
                    }
                    let mut out = Vec::with_capacity(bytes.len() + 8);
                    index
                        .write_to_out_protocol(&mut TCompactOutputProtocol::new(&mut out))
                        .map_err(thrift)?;
                    out.into_boxed_slice()
                }
                None => {
                    return Err(PolarsError::ComputeError(
                        "polars' writer wrote no offset index".into(),
                    )
                    .into())
                }
            };
            indexes.push(ChunkIndex { column, offset });
            chunk.column_index_offset = None;
            chunk.column_index_length = None;
            chunk.offset_index_offset = None;
            chunk.offset_index_length = None;
            chunk.file_offset += shift;
            if let Some(meta) = &mut chunk.meta_data {
                meta.data_page_offset += shift;
                if let Some(o) = &mut meta.dictionary_page_offset {
                    *o += shift;
                }
                if let Some(o) = &mut meta.index_page_offset {
                    *o += shift;
                }
            }
        }
        if let Some(o) = &mut group.file_offset {
            *o += shift;
        }
        // As polars writes it: none past the 32 767 an i16 holds (not an error).
        group.ordinal = i16::try_from(self.row_groups.len()).ok();
        self.position += forwarded;
        self.row_groups.push(group);
        self.indexes.push(indexes);
        Ok(())
    }

    /// Writes the open row group, the page indexes of all row groups and the footer (polars'
    /// own for this schema, with the Arrow schema and then `metadata` as its key-value pairs,
    /// as polars' writer does), and syncs the file.
    pub(crate) fn finish(mut self, metadata: Vec<(String, String)>) -> Result<(), Error> {
        self.end_row_group()?;
        // The Arrow schema first (the column types beyond Parquet's: durations, time zones).
        let mut kv = vec![polars_parquet::write::schema_to_metadata_key(&self.schema)];
        kv.extend(metadata.into_iter().map(|(key, value)| KeyValue {
            key,
            value: Some(value),
        }));
        let metadata = kv;
        // polars' footer for this schema and these pairs, from a file without rows.
        let mut empty = FileWriter::new_with_parquet_schema(
            Vec::new(),
            self.schema.clone(),
            self.parquet_schema.clone(),
            self.options,
        );
        empty.end(Some(metadata))?;
        let (_, mut footer): (Vec<u8>, ThriftFileMetadata) = empty.into_inner_and_metadata();
        let path = self.path.clone();
        let io = || write_error(&path);
        // Column indexes first, then offset indexes, as polars writes them.
        for (group, indexes) in self.row_groups.iter_mut().zip(&self.indexes) {
            for (chunk, index) in group.columns.iter_mut().zip(indexes) {
                if let Some(bytes) = &index.column {
                    chunk.column_index_offset = Some(signed(self.position)?);
                    chunk.column_index_length = Some(signed(bytes.len() as u64)?);
                    self.file.write_all(bytes).map_err(io())?;
                    self.position += bytes.len() as u64;
                }
            }
        }
        for (group, indexes) in self.row_groups.iter_mut().zip(&self.indexes) {
            for (chunk, index) in group.columns.iter_mut().zip(indexes) {
                chunk.offset_index_offset = Some(signed(self.position)?);
                chunk.offset_index_length = Some(signed(index.offset.len() as u64)?);
                self.file.write_all(&index.offset).map_err(io())?;
                self.position += index.offset.len() as u64;
            }
        }
        footer.num_rows = self.row_groups.iter().map(|g| g.num_rows).sum();
        footer.row_groups = std::mem::take(&mut self.row_groups);
        let mut bytes = Vec::new();
        let length = footer
            .write_to_out_protocol(&mut TCompactOutputProtocol::new(&mut bytes))
            .map_err(thrift)?;
        let length = u32::try_from(length)
            .map_err(|_| PolarsError::ComputeError("Parquet footer over 4 GiB".into()))?;
        self.file.write_all(&bytes).map_err(io())?;
        self.file.write_all(&length.to_le_bytes()).map_err(io())?;
        self.file.write_all(MAGIC).map_err(io())?;
        let file = self.file.into_inner().map_err(|e| io()(e.into_error()))?;
        file.sync_all().map_err(io())
    }
}
