//! Records → polars DataFrames (wire values are named by their `pcapstat_core::wire` types).
//! One function per table; every column is documented in
//! `docs/metrics.md`, and a test checks that the two agree.

use polars::prelude::*;

use pcapstat_core::{ConnectionRecord, DirectionStats};

mod app;
pub use app::{dns_frame, http_frame, quic_frame, tls_frame, websocket_frame};

use crate::error::Error;

/// Version of the table schemas: changes when a column is renamed, removed or changes meaning
/// (adding a column does not change it). Written into every Parquet file's metadata.
pub const SCHEMA_VERSION: u32 = 2;

/// Builds columns of one table from its records; the same row order for every column.
struct Cols<'a, R> {
    rows: &'a [R],
    cols: Vec<Column>,
}

impl<'a, R> Cols<'a, R> {
    fn new(rows: &'a [R]) -> Self {
        Cols {
            rows,
            cols: Vec::new(),
        }
    }
    fn push(&mut self, s: Series) {
        self.cols.push(s.into_column());
    }
    /// A column of plain values (`u64`, `Option<u16>`, `bool`, ...).
    fn col<T>(&mut self, name: &str, f: impl Fn(&R) -> T)
    where
        Series: NamedFrom<Vec<T>, [T]>,
    {
        let v: Vec<T> = self.rows.iter().map(f).collect();
        self.push(Series::new(name.into(), v));
    }
    /// A string column of owned values (for values made per row; prefer [`Cols::str_ref`] and
    /// [`Cols::str_fmt`], which allocate nothing per row).
    fn str(&mut self, name: &str, f: impl Fn(&R) -> Option<String>) {
        self.str_ref(name, |r| f(r).map(std::borrow::Cow::Owned));
    }
    /// A string column of values borrowed from the records (or static names).
    fn str_ref<'s>(&mut self, name: &str, f: impl Fn(&'s R) -> Option<std::borrow::Cow<'s, str>>)
    where
        'a: 's,
    {
        let rows: &'s [R] = self.rows;
        let mut b = StringChunkedBuilder::new(name.into(), rows.len());
        for r in rows {
            match f(r) {
                Some(v) => b.append_value(v.as_ref()),
                None => b.append_null(),
            }
        }
        self.push(b.finish().into_series());
    }
    /// A string column of values written with `Display` into one reused buffer (addresses).
    fn str_fmt<D: std::fmt::Display>(&mut self, name: &str, f: impl Fn(&R) -> Option<D>) {
        use std::fmt::Write as _;
        let mut b = StringChunkedBuilder::new(name.into(), self.rows.len());
        let mut buf = String::new();
        for r in self.rows {
            match f(r) {
                Some(v) => {
                    buf.clear();
                    let _ = write!(buf, "{v}");
                    b.append_value(&buf);
                }
                None => b.append_null(),
            }
        }
        self.push(b.finish().into_series());
    }
    /// Absolute capture time, ns since the epoch → Datetime(ns, UTC).
    fn ts(&mut self, name: &str, f: impl Fn(&R) -> Option<i64>) {
        let v: Vec<Option<i64>> = self.rows.iter().map(f).collect();
        self.push(
            Series::new(name.into(), v).into_datetime(TimeUnit::Nanoseconds, Some(TimeZone::UTC)),
        );
    }
    /// Time difference, ns → Duration(ns).
    fn dur(&mut self, name: &str, f: impl Fn(&R) -> Option<i64>) {
        let v: Vec<Option<i64>> = self.rows.iter().map(f).collect();
        self.push(Series::new(name.into(), v).into_duration(TimeUnit::Nanoseconds));
    }
    /// The `capture` column: one value for every row, built without a copy per row.
    fn capture(&mut self, value: Option<&str>) {
        let n = self.rows.len();
        let s = match value {
            Some(v) => StringChunked::full("capture".into(), v, n).into_series(),
            None => Series::full_null("capture".into(), n, &DataType::String),
        };
        self.push(s);
    }
    fn finish(self) -> Result<DataFrame, Error> {
        Ok(DataFrame::new(self.rows.len(), self.cols)?)
    }
}

/// The connections table (see `docs/metrics.md`, section "connections"): one row per TCP
/// connection of `records`, in their order; `capture` fills the `capture` column (null if
/// `None`).
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn connections_frame(
    capture: Option<&str>,
    records: &[ConnectionRecord],
) -> Result<DataFrame, Error> {
    let mut c = Cols::new(records);
    c.capture(capture);
    c.col("conn_id", |r| r.conn_id);
    c.str_fmt("client_ip", |r| Some(r.client_ip));
    c.col("client_port", |r| r.client_port);
    c.str_fmt("server_ip", |r| Some(r.server_ip));
    c.col("server_port", |r| r.server_port);
    c.col("ip_version", |r| r.ip_version);
    c.ts("start", |r| Some(r.start_ts));
    c.ts("end", |r| Some(r.end_ts));
    c.dur("duration", |r| Some(r.end_ts.saturating_sub(r.start_ts)));
    c.str_ref("outcome", |r| Some(r.outcome.as_str().into()));
    c.str_ref("reset_by", |r| r.reset_by.map(|s| s.as_str().into()));
    c.str_ref("failure", |r| r.failure.map(|f| f.as_str().into()));
    c.col("handshake_seen", |r| r.handshake_seen);
    c.col("client_guessed", |r| r.client_guessed);
    c.str_ref("roles_from", |r| Some(r.roles_from.as_str().into()));
    c.col("syn_retries", |r| r.syn_retries);
    c.dur("connect", |r| r.connect_ns);
    c.dur("syn_to_synack", |r| r.syn_to_synack_ns);
    c.dur("synack_to_ack", |r| r.synack_to_ack_ns);
    c.dur("initial_rtt", |r| r.syn_to_ack_ns);
    for (sfx, get) in [
        (
            "c2s",
            (|r: &ConnectionRecord| &r.c2s) as fn(&ConnectionRecord) -> &DirectionStats,
        ),
        ("s2c", |r: &ConnectionRecord| &r.s2c),
    ] {
        let n = |base: &str| format!("{base}_{sfx}");
        c.col(&n("packets"), |r| get(r).packets);
        c.col(&n("payload_bytes"), |r| get(r).payload_bytes);
        c.col(&n("retransmissions"), |r| get(r).retransmissions);
        c.col(&n("retransmitted_bytes"), |r| get(r).retransmitted_bytes);
        c.col(&n("fast_retransmissions"), |r| get(r).fast_retransmissions);
        c.col(&n("spurious_retransmissions"), |r| {
            get(r).spurious_retransmissions
        });
        c.col(&n("out_of_order"), |r| get(r).out_of_order);
        c.col(&n("dup_acks"), |r| get(r).dup_acks);
        c.col(&n("zero_windows"), |r| get(r).zero_windows);
        c.col(&n("zero_window_probes"), |r| get(r).zero_window_probes);
        c.col(&n("keep_alives"), |r| get(r).keep_alives);
        c.col(&n("window_updates"), |r| get(r).window_updates);
        c.col(&n("window_full"), |r| get(r).window_full);
        c.col(&n("lost_segments"), |r| get(r).lost_segments);
        c.col(&n("ack_lost_segments"), |r| get(r).ack_lost_segments);
        c.col(&n("missed_bytes"), |r| get(r).missed_bytes);
        c.col(&n("inconsistent_overlaps"), |r| {
            get(r).inconsistent_overlaps
        });
        c.col(&n("rtt_samples"), |r| get(r).rtt_samples);
        c.dur(&n("rtt_min"), |r| get(r).rtt_min_ns);
        c.dur(&n("rtt_median"), |r| get(r).rtt_median_ns);
        c.dur(&n("rtt_max"), |r| get(r).rtt_max_ns);
        c.col(&n("mss"), |r| get(r).handshake_options.and_then(|o| o.mss));
        c.col(&n("window_scale"), |r| {
            get(r).handshake_options.and_then(|o| o.window_scale)
        });
        c.col(&n("sack_permitted"), |r| {
            get(r).handshake_options.map(|o| o.sack_permitted)
        });
        c.col(&n("timestamps"), |r| {
            get(r).handshake_options.map(|o| o.timestamps)
        });
        c.ts(&n("first_payload"), |r| get(r).first_payload_ts);
        c.ts(&n("last_payload"), |r| get(r).last_payload_ts);
        c.ts(&n("fin"), |r| get(r).fin_ts);
    }
    c.finish()
}

/// The type of a column as `docs/metrics.md` writes it (`UInt64`, `Datetime(ns, UTC)`, …).
pub fn type_name(dtype: &DataType) -> String {
    match dtype {
        DataType::Datetime(TimeUnit::Nanoseconds, Some(tz)) => format!("Datetime(ns, {tz})"),
        DataType::Duration(TimeUnit::Nanoseconds) => "Duration(ns)".to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests;
