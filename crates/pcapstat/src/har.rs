//! HAR 1.2 export (<http://www.softwareishard.com/blog/har-12-spec/>): one entry per HTTP
//! request of the http table, its `timings` from the same request join, `pages` grouped by
//! client and idle gaps. The mapping of every field, its unit and its rule for what a capture
//! does not show is in `docs/har.md`.
//!
//! [`HarBuilder`] is a [`RecordSink`]: it gathers the HTTP rows while a capture is read and
//! writes the file at the end ([`HarBuilder::write_file`], atomically). A HAR is one JSON
//! document whose pages come before the entries and whose entries are in time order, so the
//! builder keeps the capture's HTTP rows (and a few bytes per connection that carried data)
//! until the end: memory grows with the number of requests, as the file does.
//!
//! ```
//! let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/lab");
//! let analysis = pcapstat::Analyzer::new()
//!     .analyze_path(format!("{lab}/d_tls_resumption/capture-with-keys.pcapng"))?;
//! let mut out = Vec::new();
//! pcapstat::har::write_har(&analysis, &pcapstat::har::HarOptions::default(), &mut out)?;
//! let har: serde_json::Value = serde_json::from_slice(&out)?;
//! assert_eq!(har["log"]["version"], "1.2");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use pcapstat_core::{
    ConnectionRecord, HttpRecord, HttpVersion, RecordSink, Records, RequestTiming, TlsRecord,
};

use crate::error::Error;
use crate::time::iso8601_ms;
use crate::write::write_file_atomically;
use crate::Analysis;

/// The default page rule: a client's requests belong to one page until it has had no request
/// in flight for this long (5 s).
pub const PAGE_GAP_NS: i64 = 5_000_000_000;

/// How the HAR is laid out.
#[derive(Debug, Clone)]
pub struct HarOptions {
    /// A new page of a client starts with a request that begins more than this long after the
    /// end (start + `time`) of every earlier request of that client's current page.
    pub page_gap_ns: i64,
}

impl Default for HarOptions {
    fn default() -> Self {
        HarOptions {
            page_gap_ns: PAGE_GAP_NS,
        }
    }
}

/// What an entry needs from its connection, kept for connections that carried data in both
/// directions (an HTTP connection always does; a SYN flood's do not, and cost nothing).
#[derive(Debug, Clone, Copy, Default)]
struct ConnInfo {
    /// Retransmitted segments, both directions; `None` until the connection record came.
    retransmissions: Option<u64>,
    /// The connection carried TLS (a TLS record came): the URL's scheme is `https`.
    tls: bool,
}

/// Gathers the HTTP rows of one capture and writes them as a HAR 1.2 file.
#[derive(Debug, Clone)]
pub struct HarBuilder {
    options: HarOptions,
    rows: Vec<(HttpRecord, RequestTiming)>,
    conns: HashMap<u64, ConnInfo>,
}

impl RecordSink for HarBuilder {
    fn records(&mut self, records: Records) {
        self.add(&records);
    }
}

impl HarBuilder {
    /// An empty HAR.
    pub fn new(options: &HarOptions) -> HarBuilder {
        HarBuilder {
            options: options.clone(),
            rows: Vec::new(),
            conns: HashMap::new(),
        }
    }

    /// Adds a batch of records (its HTTP rows with their timings; what the entries need of
    /// the connections and TLS handshakes).
    pub fn add(&mut self, records: &Records) {
        self.add_parts(
            &records.connections,
            &records.tls,
            &records.http,
            &records.timings,
        );
    }

    fn add_parts(
        &mut self,
        connections: &[ConnectionRecord],
        tls: &[TlsRecord],
        http: &[HttpRecord],
        timings: &[RequestTiming],
    ) {
        for c in connections {
            if c.c2s.payload_bytes > 0 && c.s2c.payload_bytes > 0 {
                self.conns.entry(c.conn_id).or_default().retransmissions =
                    Some(c.c2s.retransmissions + c.s2c.retransmissions);
            }
        }
        for t in tls {
            self.conns.entry(t.conn_id).or_default().tls = true;
        }
        for t in timings {
            // Rows inferred from encrypted records (no method, URL nor status) are left out
            // (docs/har.md).
            if let Some(h) = http.get(t.http_index).filter(|h| !h.inferred) {
                self.rows.push((h.clone(), t.clone()));
            }
        }
    }

    /// The entries so far.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No entry so far.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the HAR document to `out`: pages, then entries in time order.
    ///
    /// # Errors
    /// The writer's I/O errors.
    pub fn write(mut self, out: impl Write) -> std::io::Result<()> {
        self.rows
            .sort_by_key(|(h, t)| (t.start_ts, h.conn_id, h.request_index));
        let entries: Vec<Entry<'_>> = self
            .rows
            .iter()
            .map(|(h, t)| entry(h, t, self.conns.get(&h.conn_id)))
            .collect();
        let (pages, pagerefs) = pages(&entries, self.options.page_gap_ns);
        let mut out = BufWriter::new(out);
        // The entries are written one at a time (no second copy of the document as a JSON tree).
        out.write_all(b"{\"log\":{\"version\":\"1.2\",\"creator\":")?;
        serde_json::to_writer(
            &mut out,
            &Creator {
                name: "pcapstat",
                version: env!("CARGO_PKG_VERSION"),
            },
        )?;
        out.write_all(b",\"pages\":")?;
        serde_json::to_writer(&mut out, &pages)?;
        out.write_all(b",\"entries\":[")?;
        for (i, (e, pageref)) in entries.iter().zip(&pagerefs).enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            out.write_all(b"\n")?;
            serde_json::to_writer(&mut out, &WithPage { pageref, entry: e })?;
        }
        out.write_all(b"\n]}}\n")?;
        out.flush()
    }

    /// Writes the HAR document to `path` atomically: under a temporary name in the same
    /// directory, synced, then renamed (an interrupted run leaves no partial file at `path`).
    ///
    /// # Errors
    /// [`Error::Write`] for I/O errors (a full device among them).
    pub fn write_file(self, path: &Path) -> Result<(), Error> {
        write_file_atomically(path, "har", |file| self.write(file))
    }
}

/// Writes the HTTP rows of `analysis` as a HAR 1.2 document to `out`.
///
/// # Errors
/// The writer's I/O errors, as [`Error::Write`] naming `<writer>`.
pub fn write_har(analysis: &Analysis, options: &HarOptions, out: impl Write) -> Result<(), Error> {
    let records = analysis.records();
    let mut har = HarBuilder::new(options);
    har.add_parts(
        &records.connections,
        &records.tls,
        &records.http,
        &records.timings,
    );
    har.write(out).map_err(|source| Error::Write {
        path: PathBuf::from("<writer>"),
        source,
    })
}

#[derive(Serialize)]
struct Creator {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    started_date_time: String,
    id: String,
    title: String,
    page_timings: PageTimings,
    #[serde(rename = "_pcapstat")]
    pcapstat: PagePcapstat,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageTimings {
    on_content_load: f64,
    on_load: f64,
}

#[derive(Serialize)]
struct PagePcapstat {
    client_ip: String,
    entries: usize,
}

#[derive(Serialize)]
struct WithPage<'a> {
    pageref: &'a str,
    #[serde(flatten)]
    entry: &'a Entry<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    started_date_time: String,
    time: f64,
    request: Request<'a>,
    response: Response<'a>,
    cache: Empty,
    timings: Timings,
    #[serde(rename = "serverIPAddress")]
    server_ip_address: String,
    connection: String,
    #[serde(rename = "_pcapstat")]
    pcapstat: EntryPcapstat,
    /// For pages (not serialised).
    #[serde(skip)]
    client: IpAddr,
    #[serde(skip)]
    start_ts: i64,
    #[serde(skip)]
    end_ts: i64,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Header<'a> {
    name: &'a str,
    value: &'a str,
}

/// A HAR cookie (from `Cookie` or `Set-Cookie`; `expires` is not given: HAR wants an ISO
/// 8601 date and the header has an HTTP date).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cookie<'a> {
    name: &'a str,
    value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secure: Option<bool>,
}

#[derive(Serialize)]
struct Query {
    name: String,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    method: &'a str,
    url: String,
    http_version: &'static str,
    headers: Vec<Header<'a>>,
    query_string: Vec<Query>,
    cookies: Vec<Cookie<'a>>,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    status: u16,
    status_text: &'a str,
    http_version: &'static str,
    headers: Vec<Header<'a>>,
    cookies: Vec<Cookie<'a>>,
    content: Content<'a>,
    #[serde(rename = "redirectURL")]
    redirect_url: &'a str,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content<'a> {
    size: i64,
    mime_type: &'a str,
}

#[derive(Serialize)]
struct Timings {
    blocked: f64,
    dns: f64,
    connect: f64,
    ssl: f64,
    send: f64,
    wait: f64,
    receive: f64,
}

#[derive(Serialize)]
struct EntryPcapstat {
    conn_id: u64,
    request_index: u32,
    stream_id: Option<u32>,
    reused: bool,
    tls_resumed: Option<bool>,
    retransmissions: Option<u64>,
    complete: bool,
    upgraded: bool,
    tcp_connect_ms: Option<f64>,
    total_ms: Option<f64>,
    dns_query_frame: Option<u64>,
    unobserved: Vec<&'static str>,
    /// The header block sizes of the row (HTTP/2: HPACK-encoded bytes; `headersSize` is -1).
    request_header_bytes: u64,
    response_header_bytes: Option<u64>,
    /// Header fields not kept or cut by the bounds (request and response together; docs/har.md);
    /// `null` when headers were not captured.
    headers_dropped: Option<u32>,
    headers_truncated: Option<u32>,
}

/// Nanoseconds as HAR milliseconds (to the microsecond).
fn ms(ns: i64) -> f64 {
    (ns as f64 / 1_000.0).round() / 1_000.0
}

fn ms_or_minus_one(ns: Option<i64>) -> f64 {
    ns.map_or(-1.0, ms)
}

fn entry<'a>(h: &'a HttpRecord, t: &RequestTiming, conn: Option<&ConnInfo>) -> Entry<'a> {
    let tls = conn.is_some_and(|c| c.tls) || t.tls_resumed.is_some();
    // HAR's connect includes ssl; a TLS handshake seen without the TCP one is all of the
    // connect that was seen.
    let har_connect = match (t.connect_ns, t.tls_ns) {
        (Some(c), s) => Some(c.saturating_add(s.unwrap_or(0))),
        (None, s) => s,
    };
    let mut unobserved = Vec::new();
    let mut required = |name, v: Option<i64>| {
        if v.is_none() {
            unobserved.push(name);
        }
        v.unwrap_or(0)
    };
    let send = required("send", t.send_ns);
    let wait = required("wait", t.wait_ns);
    let receive = required("receive", t.receive_ns);
    let phases = [t.dns_ns, har_connect]
        .into_iter()
        .flatten()
        .fold(send + wait + receive, i64::saturating_add);
    // The time between the phases (after the DNS answer before the SYN, after the handshake
    // before the first request byte) is HAR's `blocked`, so that `time` is the sum of the
    // timings as HAR defines it and also the row's `total`.
    let blocked = t.total_ns.map(|total| total - phases).filter(|b| *b >= 0);
    let time_ns = t.total_ns.unwrap_or(phases);
    let responded = h.response_start_ts.is_some();
    let kept = h.headers.as_deref();
    let response_headers: Vec<Header<'_>> = kept.map_or_else(Vec::new, |k| {
        k.response
            .iter()
            .map(|(name, value)| Header { name, value })
            .collect()
    });
    let first = |name: &'static str| kept.and_then(|k| k.response.values(name).next());
    // HAR 1.2: the bytes from the start of the message to the blank line, both included: an
    // HTTP/1 head. HTTP/2 and HTTP/3 have no such bytes (HPACK, QPACK): -1, as HAR allows.
    let http1 = matches!(h.version, HttpVersion::Http10 | HttpVersion::Http11);
    let request_headers_size = if http1 {
        to_i64(h.request_header_bytes)
    } else {
        -1
    };
    let response_headers_size = match h.response_header_bytes {
        Some(n) if http1 => to_i64(n),
        _ => -1,
    };
    Entry {
        started_date_time: iso8601_ms(t.start_ts),
        time: ms(time_ns),
        request: Request {
            method: h.method.as_deref().unwrap_or(""),
            url: url(h, tls),
            http_version: h.version.as_str(),
            headers: request_headers(h),
            query_string: query_string(h.path.as_deref().unwrap_or("")),
            cookies: kept.map_or_else(Vec::new, |k| {
                k.request
                    .values("cookie")
                    .flat_map(request_cookies)
                    .collect()
            }),
            headers_size: request_headers_size,
            body_size: to_i64(h.request_body_bytes),
        },
        response: Response {
            status: h.status.unwrap_or(0),
            status_text: kept.and_then(|k| k.status_text.as_deref()).unwrap_or(""),
            http_version: if responded { h.version.as_str() } else { "" },
            headers: response_headers,
            cookies: kept.map_or_else(Vec::new, |k| {
                k.response
                    .values("set-cookie")
                    .filter_map(set_cookie)
                    .collect()
            }),
            content: Content {
                size: h.response_body_bytes.map_or(0, to_i64),
                mime_type: first("content-type").unwrap_or("x-unknown"),
            },
            redirect_url: first("location").unwrap_or(""),
            headers_size: response_headers_size,
            body_size: h.response_body_bytes.map_or(-1, to_i64),
        },
        cache: Empty {},
        timings: Timings {
            blocked: ms_or_minus_one(blocked),
            dns: ms_or_minus_one(t.dns_ns),
            connect: ms_or_minus_one(har_connect),
            ssl: ms_or_minus_one(t.tls_ns),
            send: ms(send),
            wait: ms(wait),
            receive: ms(receive),
        },
        server_ip_address: h.server.ip.to_string(),
        connection: h.conn_id.to_string(),
        pcapstat: EntryPcapstat {
            conn_id: h.conn_id,
            request_index: h.request_index,
            stream_id: h.stream_id,
            reused: t.reused,
            tls_resumed: t.tls_resumed,
            retransmissions: conn.and_then(|c| c.retransmissions),
            complete: h.complete,
            upgraded: h.upgraded,
            tcp_connect_ms: t.connect_ns.map(ms),
            total_ms: t.total_ns.map(ms),
            dns_query_frame: t.dns_query_frame,
            unobserved,
            request_header_bytes: h.request_header_bytes,
            response_header_bytes: h.response_header_bytes,
            headers_dropped: kept.map(|k| k.request.dropped.saturating_add(k.response.dropped)),
            headers_truncated: kept
                .map(|k| k.request.truncated.saturating_add(k.response.truncated)),
        },
        client: h.client.ip,
        start_ts: t.start_ts,
        end_ts: t.start_ts.saturating_add(time_ns),
    }
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The request's header fields as kept (header capture on); without them, the one header every
/// row has: `Host` (HTTP/2: `:authority`).
fn request_headers(h: &HttpRecord) -> Vec<Header<'_>> {
    if let Some(k) = h.headers.as_deref() {
        return k
            .request
            .iter()
            .map(|(name, value)| Header { name, value })
            .collect();
    }
    let name = match h.version {
        HttpVersion::Http2 | HttpVersion::Http3 => ":authority",
        _ => "Host",
    };
    h.host
        .as_deref()
        .map(|value| Header { name, value })
        .into_iter()
        .collect()
}

/// The request's absolute URL: `https` when the connection carried TLS (HTTP/3 always); the Host header (else
/// the server's address and port) as authority; the target as sent (an absolute-form target
/// as it is; CONNECT's authority-form as the authority). Characters a URI cannot hold are
/// percent-encoded.
pub(crate) fn url(h: &HttpRecord, tls: bool) -> String {
    // HTTP/3 is always over QUIC's TLS.
    let scheme = if tls || h.version == HttpVersion::Http3 {
        "https"
    } else {
        "http"
    };
    let target = h.path.as_deref().unwrap_or("");
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return uri_escape(target);
    }
    let authority = match h.host.as_deref() {
        Some(host) if !host.is_empty() => host.to_string(),
        _ => match h.server.ip {
            IpAddr::V4(ip) => format!("{ip}:{}", h.server.port),
            IpAddr::V6(ip) => format!("[{ip}]:{}", h.server.port),
        },
    };
    let url = if h.method.as_deref() == Some("CONNECT") && !target.starts_with('/') {
        format!("{scheme}://{target}")
    } else if target.is_empty() || target.starts_with('/') {
        format!("{scheme}://{authority}{target}")
    } else {
        // `*` (OPTIONS) or a target that is not a path.
        format!("{scheme}://{authority}/{target}")
    };
    uri_escape(&url)
}

/// Percent-encodes what RFC 3986 does not allow anywhere in a URI (controls, space, `"<>\^`{|}`,
/// non-ASCII bytes); `%` and the reserved characters stay as sent.
fn uri_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The cookies of one `Cookie` header: `name=value` pairs separated by `;` (RFC 6265 §4.2.1;
/// a pair without `=` is a value with an empty name, as browsers read it).
fn request_cookies(header: &str) -> impl Iterator<Item = Cookie<'_>> {
    header
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or(("", pair));
            Cookie {
                name: name.trim(),
                value: value.trim(),
                path: None,
                domain: None,
                http_only: None,
                secure: None,
            }
        })
}

/// The cookie a `Set-Cookie` header sets (RFC 6265 §5.2): its `name=value` (none without `=`)
/// and the `Path`, `Domain`, `HttpOnly` and `Secure` attributes (`Expires` / `Max-Age` are not
/// given: HAR wants an ISO 8601 date).
fn set_cookie(header: &str) -> Option<Cookie<'_>> {
    let mut parts = header.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let mut c = Cookie {
        name: name.trim(),
        value: value.trim(),
        path: None,
        domain: None,
        http_only: None,
        secure: None,
    };
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("path") {
            c.path = Some(v);
        } else if k.eq_ignore_ascii_case("domain") {
            c.domain = Some(v);
        } else if k.eq_ignore_ascii_case("httponly") {
            c.http_only = Some(true);
        } else if k.eq_ignore_ascii_case("secure") {
            c.secure = Some(true);
        }
    }
    Some(c)
}

/// The query string of a request target, split at `&` and the first `=`, percent-decoded
/// (`+` as a space) as HAR viewers show it.
fn query_string(target: &str) -> Vec<Query> {
    let Some((_, query)) = target.split_once('?') else {
        return Vec::new();
    };
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Query {
                name: percent_decode(name),
                value: percent_decode(value),
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Pages: each client's entries (in time order) form one page until an entry starts more than
/// `gap` after the latest end of the page's entries. Returns the pages (in the order of their
/// first entry) and each entry's page id.
fn pages(entries: &[Entry<'_>], gap: i64) -> (Vec<Page>, Vec<String>) {
    let mut pages: Vec<Page> = Vec::new();
    let mut refs = Vec::with_capacity(entries.len());
    // client → (page index, latest end)
    let mut open: HashMap<IpAddr, (usize, i64)> = HashMap::new();
    for e in entries {
        let current = open
            .get(&e.client)
            .copied()
            .filter(|(_, end)| e.start_ts.saturating_sub(*end) <= gap);
        let index = match current {
            Some((index, end)) => {
                open.insert(e.client, (index, end.max(e.end_ts)));
                index
            }
            None => {
                let index = pages.len();
                pages.push(Page {
                    started_date_time: e.started_date_time.clone(),
                    id: format!("page_{}", index + 1),
                    title: format!("{} {}", e.client, e.request.url),
                    page_timings: PageTimings {
                        on_content_load: -1.0,
                        on_load: -1.0,
                    },
                    pcapstat: PagePcapstat {
                        client_ip: e.client.to_string(),
                        entries: 0,
                    },
                });
                open.insert(e.client, (index, e.end_ts));
                index
            }
        };
        if let Some(p) = pages.get_mut(index) {
            p.pcapstat.entries += 1;
            refs.push(p.id.clone());
        }
    }
    (pages, refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::tests::{shared_lab_captures, testdata};
    use crate::Analyzer;
    use serde_json::Value;

    /// The lab captures of the repository (with the embedded keys where there are some) and,
    /// when `$PCAPSTAT_SHARED/lab` (else `../shared/lab`) is there, the full lab set.
    fn lab_captures() -> Vec<String> {
        let mut all: Vec<String> = [
            "lab/d_tls_resumption/capture-with-keys.pcapng",
            "lab/d_tls_resumption/capture.pcap",
            "lab/e_dns/capture.pcap",
            "lab/f_refused_syndrop/capture.pcap",
            "lab/h_http2/capture-h2c.pcap",
        ]
        .into_iter()
        .map(testdata)
        .collect();
        all.extend(shared_lab_captures("HAR tests"));
        all
    }

    fn har_of(analysis: &Analysis) -> Value {
        let mut out = Vec::new();
        write_har(analysis, &HarOptions::default(), &mut out).expect("write");
        serde_json::from_slice(&out).expect("the HAR is JSON")
    }

    fn ms_of(ns: Option<i64>) -> f64 {
        ns.map_or(-1.0, ms)
    }

    #[test]
    fn every_lab_capture_gives_one_entry_per_http_row_with_its_phases() {
        let analyzer = Analyzer::new()
            .threads(2)
            .capture_headers(Some(pcapstat_core::HeaderLimits::default()));
        let mut with_entries = 0;
        for path in lab_captures() {
            let analysis = analyzer.analyze_path(&path).expect("analyse");
            let har = har_of(&analysis);
            let log = &har["log"];
            assert_eq!(log["version"], "1.2");
            assert_eq!(log["creator"]["name"], "pcapstat");
            let entries = log["entries"].as_array().expect("entries");
            // Inferred rows are left out (docs/har.md).
            let parsed = analysis.http_records().iter().filter(|h| !h.inferred);
            assert_eq!(entries.len(), parsed.count(), "{path}");
            with_entries += usize::from(!entries.is_empty());
            // The entries are the rows in time order: find each by its connection and index.
            let mut by_key = HashMap::new();
            for e in entries {
                let p = &e["_pcapstat"];
                let key = (p["conn_id"].as_u64(), p["request_index"].as_u64());
                assert!(by_key.insert(key, e).is_none(), "{path}: one entry per row");
            }
            let pages: Vec<&str> = log["pages"]
                .as_array()
                .expect("pages")
                .iter()
                .filter_map(|p| p["id"].as_str())
                .collect();
            let mut previous = String::new();
            for e in entries {
                let started = e["startedDateTime"].as_str().expect("startedDateTime");
                assert!(
                    started >= previous.as_str(),
                    "{path}: entries in time order"
                );
                previous = started.to_string();
                assert!(pages.contains(&e["pageref"].as_str().unwrap_or("")));
            }
            for (h, t) in analysis
                .http_records()
                .iter()
                .zip(analysis.request_timings())
                .filter(|(h, _)| !h.inferred)
            {
                let key = (Some(h.conn_id), Some(u64::from(h.request_index)));
                let e = by_key.get(&key).expect("the row's entry");
                let tm = &e["timings"];
                let f = |v: &Value| v.as_f64().expect("a number");
                assert_eq!(f(&tm["dns"]), ms_of(t.dns_ns), "{path}");
                assert_eq!(f(&tm["ssl"]), ms_of(t.tls_ns), "{path}");
                let connect = match (t.connect_ns, t.tls_ns) {
                    (Some(c), s) => Some(c + s.unwrap_or(0)),
                    (None, s) => s,
                };
                assert_eq!(
                    f(&tm["connect"]),
                    ms_of(connect),
                    "{path}: connect includes ssl"
                );
                for (name, v) in [
                    ("send", t.send_ns),
                    ("wait", t.wait_ns),
                    ("receive", t.receive_ns),
                ] {
                    // Required non-negative in HAR: 0 and named in `_pcapstat.unobserved`.
                    assert_eq!(f(&tm[name]), v.map_or(0.0, ms), "{path}: {name}");
                    let listed = e["_pcapstat"]["unobserved"]
                        .as_array()
                        .expect("unobserved")
                        .contains(&Value::from(name));
                    assert_eq!(listed, v.is_none(), "{path}: {name}");
                }
                for name in [
                    "blocked", "dns", "connect", "ssl", "send", "wait", "receive",
                ] {
                    assert!(f(&tm[name]) >= -1.0, "{path}: {name}");
                }
                if t.reused {
                    for name in ["dns", "connect", "ssl"] {
                        assert_eq!(f(&tm[name]), -1.0, "{path}: {name} of a reused request");
                    }
                }
                // `time` is the row's total, and the sum of the timings (HAR) when every gap is
                // `blocked`.
                let time = f(&e["time"]);
                if let Some(total) = t.total_ns {
                    assert_eq!(time, ms(total), "{path}");
                }
                let sum: f64 = ["blocked", "dns", "connect", "send", "wait", "receive"]
                    .iter()
                    .map(|n| f(&tm[*n]))
                    .filter(|v| *v >= 0.0)
                    .sum();
                if t.total_ns.is_none() || f(&tm["blocked"]) >= 0.0 {
                    assert!(
                        (time - sum).abs() < 0.01,
                        "{path}: time {time} vs sum {sum}"
                    );
                }
                assert_eq!(e["startedDateTime"], iso8601_ms(t.start_ts));
                assert_eq!(e["serverIPAddress"], h.server.ip.to_string());
                assert_eq!(e["connection"], h.conn_id.to_string());
                assert_eq!(e["_pcapstat"]["reused"], t.reused);
                assert_eq!(e["request"]["httpVersion"], h.version.as_str());
                assert_eq!(
                    e["response"]["status"].as_u64(),
                    Some(u64::from(h.status.unwrap_or(0)))
                );
                let headers_size =
                    if !matches!(h.version, HttpVersion::Http10 | HttpVersion::Http11) {
                        -1
                    } else {
                        to_i64(h.request_header_bytes)
                    };
                assert_eq!(e["request"]["headersSize"].as_i64(), Some(headers_size));
                // The kept headers, in order, as name/value objects.
                let kept = h.headers.as_deref().expect("headers captured");
                let pairs = |v: &Value| -> Vec<(String, String)> {
                    v.as_array()
                        .expect("headers")
                        .iter()
                        .map(|x| {
                            let s = |k: &str| x[k].as_str().expect("a string").to_string();
                            (s("name"), s("value"))
                        })
                        .collect()
                };
                let own = |l: &pcapstat_core::HeaderList| -> Vec<(String, String)> {
                    l.iter()
                        .map(|(n, v)| (n.to_string(), v.to_string()))
                        .collect()
                };
                assert_eq!(pairs(&e["request"]["headers"]), own(&kept.request));
                assert_eq!(pairs(&e["response"]["headers"]), own(&kept.response));
                assert!(!kept.request.is_empty(), "{path}: request headers kept");
                if !matches!(h.version, HttpVersion::Http10 | HttpVersion::Http11) {
                    assert_eq!(e["response"]["headersSize"], -1);
                    assert_eq!(e["request"]["headers"][0]["name"], ":method");
                } else if let Some(n) = h.response_header_bytes {
                    assert_eq!(e["response"]["headersSize"].as_u64(), Some(n));
                }
                assert_eq!(
                    e["response"]["bodySize"].as_i64(),
                    Some(h.response_body_bytes.map_or(-1, to_i64))
                );
                let url = e["request"]["url"].as_str().expect("url");
                let tls = analysis
                    .tls_records()
                    .iter()
                    .any(|x| x.conn_id == h.conn_id);
                assert!(
                    url.starts_with(if tls { "https://" } else { "http://" }),
                    "{url}"
                );
                if let Some(c) = analysis
                    .connection_records()
                    .iter()
                    .find(|c| c.conn_id == h.conn_id)
                {
                    let retrans = c.c2s.retransmissions + c.s2c.retransmissions;
                    assert_eq!(e["_pcapstat"]["retransmissions"].as_u64(), Some(retrans));
                }
            }
        }
        assert!(with_entries > 0, "some lab capture has HTTP requests");
    }

    #[test]
    fn streamed_batches_give_the_same_document_as_the_analysis() {
        let path = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
        let analyzer = Analyzer::new().threads(2);
        let whole = har_of(&analyzer.analyze_path(&path).expect("analyse"));
        let mut builder = HarBuilder::new(&HarOptions::default());
        analyzer
            .analyze_path_into(&path, &crate::Filter::default(), &mut builder)
            .expect("analyse");
        let mut out = Vec::new();
        builder.write(&mut out).expect("write");
        let streamed: Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(streamed, whole);
    }

    #[test]
    fn pages_split_per_client_and_after_an_idle_gap() {
        let path = testdata("lab/d_tls_resumption/capture-with-keys.pcapng");
        let analysis = Analyzer::new().analyze_path(&path).expect("analyse");
        let n = analysis.http_records().len();
        assert!(n > 1);
        let pages_with = |gap| {
            let mut out = Vec::new();
            write_har(&analysis, &HarOptions { page_gap_ns: gap }, &mut out).expect("write");
            let har: Value = serde_json::from_slice(&out).expect("JSON");
            har["log"]["pages"].as_array().map_or(0, Vec::len)
        };
        assert_eq!(pages_with(i64::MAX), 1, "one client: one page without gaps");
        assert_eq!(pages_with(-1), n, "every request its own page");
    }

    #[test]
    fn urls_and_query_strings() {
        let mut h = HttpRecord {
            conn_id: 1,
            client: pcapstat_core::Endpoint {
                ip: IpAddr::from([10, 0, 0, 1]),
                port: 40_000,
            },
            server: pcapstat_core::Endpoint {
                ip: "2001:db8::2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                port: 8080,
            },
            exchange: pcapstat_core::HttpExchange {
                method: Some("GET".into()),
                host: Some("lab.test".into()),
                path: Some("/a b/é?x=1&y=a%20b+c&flag".into()),
                ..Default::default()
            },
        };
        assert_eq!(
            url(&h, true),
            "https://lab.test/a%20b/%C3%A9?x=1&y=a%20b+c&flag"
        );
        let q = query_string(h.path.as_deref().unwrap_or(""));
        let pairs: Vec<(&str, &str)> = q.iter().map(|q| (&*q.name, &*q.value)).collect();
        assert_eq!(pairs, [("x", "1"), ("y", "a b c"), ("flag", "")]);
        h.host = None;
        h.path = Some("/".into());
        assert_eq!(url(&h, false), "http://[2001:db8::2]:8080/");
        h.path = Some("http://proxy.test/x".into());
        assert_eq!(url(&h, false), "http://proxy.test/x");
        h.method = Some("CONNECT".into());
        h.path = Some("lab.test:443".into());
        assert_eq!(url(&h, false), "http://lab.test:443");
        h.method = Some("OPTIONS".into());
        h.host = Some("lab.test".into());
        h.path = Some("*".into());
        assert_eq!(url(&h, false), "http://lab.test/*");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn cookies_of_cookie_and_set_cookie_headers() {
        let c: Vec<(&str, &str)> = request_cookies("a=1; b = x=y ;flag; ;c=")
            .map(|c| (c.name, c.value))
            .collect();
        assert_eq!(c, [("a", "1"), ("b", "x=y"), ("", "flag"), ("c", "")]);
        let s = set_cookie("id=42; Path=/app; Domain=lab.test; Secure; HttpOnly; Max-Age=60")
            .expect("a cookie");
        assert_eq!(
            (s.name, s.value, s.path, s.domain, s.secure, s.http_only),
            (
                "id",
                "42",
                Some("/app"),
                Some("lab.test"),
                Some(true),
                Some(true)
            )
        );
        let json = serde_json::to_value(&s).expect("JSON");
        assert!(
            json.get("expires").is_none(),
            "no HTTP date where HAR wants ISO 8601"
        );
        assert!(set_cookie("no-equals-sign").is_none());
    }

    /// Header capture on: headers, cookies, statusText, mimeType and redirectURL come from the
    /// kept fields; HTTP/2's headersSize is -1; the `_pcapstat` counts of cut fields.
    #[test]
    fn entry_fields_from_the_kept_headers() {
        let mut kept = pcapstat_core::HttpHeaders::default();
        let lim = pcapstat_core::HeaderLimits::default();
        let mut h = HttpRecord {
            conn_id: 1,
            client: pcapstat_core::Endpoint {
                ip: IpAddr::from([10, 0, 0, 1]),
                port: 40_000,
            },
            server: pcapstat_core::Endpoint {
                ip: IpAddr::from([10, 0, 0, 2]),
                port: 80,
            },
            exchange: pcapstat_core::HttpExchange {
                method: Some("GET".into()),
                host: Some("lab.test".into()),
                path: Some("/".into()),
                status: Some(302),
                request_header_bytes: 77,
                response_header_bytes: Some(120),
                response_start_ts: Some(2),
                ..Default::default()
            },
        };
        let fields = [("Host", "lab.test"), ("Cookie", "a=1; b=2")];
        let resp = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Location", "/next"),
            ("Set-Cookie", "s=3; Path=/"),
        ];
        kept.request = test_list(&lim, &fields);
        kept.response = test_list(&lim, &resp);
        kept.status_text = Some("Found".into());
        h.headers = Some(Box::new(kept));
        let t = RequestTiming {
            http_index: 0,
            dns_ns: None,
            dns_query_frame: None,
            connect_ns: None,
            tls_ns: None,
            send_ns: Some(1),
            wait_ns: Some(1),
            receive_ns: Some(1),
            total_ns: Some(3),
            start_ts: 0,
            reused: true,
            tls_resumed: None,
            sni: None,
        };
        let e = serde_json::to_value(entry(&h, &t, None)).expect("JSON");
        assert_eq!(e["request"]["headers"][1]["name"], "Cookie");
        assert_eq!(e["request"]["cookies"][1]["value"], "2");
        assert_eq!(e["request"]["headersSize"], 77);
        assert_eq!(e["response"]["statusText"], "Found");
        assert_eq!(
            e["response"]["content"]["mimeType"],
            "text/html; charset=utf-8"
        );
        assert_eq!(e["response"]["redirectURL"], "/next");
        assert_eq!(e["response"]["cookies"][0]["path"], "/");
        assert_eq!(e["response"]["headersSize"], 120);
        assert_eq!(e["_pcapstat"]["headers_dropped"], 0);
        h.version = HttpVersion::Http2;
        let e = serde_json::to_value(entry(&h, &t, None)).expect("JSON");
        assert_eq!(
            (
                e["request"]["headersSize"].clone(),
                e["response"]["headersSize"].clone()
            ),
            (Value::from(-1), Value::from(-1))
        );
        assert_eq!(e["_pcapstat"]["request_header_bytes"], 77);
        h.headers = None;
        let e = serde_json::to_value(entry(&h, &t, None)).expect("JSON");
        assert_eq!(
            e["request"]["headers"][0]["name"], ":authority",
            "capture off: Host only"
        );
        assert_eq!(e["response"]["content"]["mimeType"], "x-unknown");
        assert!(e["_pcapstat"]["headers_dropped"].is_null());
    }

    fn test_list(
        lim: &pcapstat_core::HeaderLimits,
        fields: &[(&str, &str)],
    ) -> pcapstat_core::HeaderList {
        let mut l = pcapstat_core::HeaderList::default();
        for (n, v) in fields {
            l.push_field(lim, n.as_bytes(), v.as_bytes());
        }
        l
    }

    #[test]
    fn iso8601_with_milliseconds() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601_ms(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
    }
}
