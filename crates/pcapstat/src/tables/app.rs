//! The application tables: tls, http (one row per request, with the HAR phases) and dns.

use polars::prelude::DataFrame;

use pcapstat_core::{
    cid_hex, quic_version_name, DnsRecord, HttpRecord, QuicRecord, RequestTiming, TlsRecord,
    WebSocketRecord, WsDirection,
};

use super::Cols;
use crate::error::Error;

fn join<T>(items: &[T], f: impl Fn(&T) -> String) -> Option<String> {
    (!items.is_empty()).then(|| items.iter().map(f).collect::<Vec<_>>().join(","))
}

/// The tls table (see `docs/metrics.md`, section "tls"): one row per TLS handshake.
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn tls_frame(capture: Option<&str>, records: &[TlsRecord]) -> Result<DataFrame, Error> {
    let mut c = Cols::new(records);
    c.capture(capture);
    c.col("conn_id", |r| r.conn_id);
    c.str_ref("transport", |r| Some(r.transport.as_str().into()));
    c.ts("client_hello_ts", |r| r.client_hello_ts);
    c.str_ref("sni", |r| r.sni.as_deref().map(Into::into));
    c.str("alpn_offered", |r| join(&r.alpn_offered, String::clone));
    c.str("versions_offered", |r| {
        join(&r.versions_offered, ToString::to_string)
    });
    c.col("cipher_suites_offered", |r| r.cipher_suites_offered);
    c.col("session_id_len", |r| r.session_id_len);
    c.col("session_ticket_offered", |r| r.session_ticket_offered);
    c.col("psk_offered", |r| r.psk_offered);
    c.col("client_hello_truncated", |r| r.client_hello_truncated);
    c.str_ref("ja3", |r| r.ja3.as_deref().map(Into::into));
    c.str_ref("ja3_hash", |r| r.ja3_hash.as_deref().map(Into::into));
    c.str_ref("ja4", |r| r.ja4.as_deref().map(Into::into));
    c.ts("server_hello_ts", |r| r.server_hello_ts);
    c.col("hello_retry", |r| r.hello_retry);
    c.str_fmt("version", |r| r.version);
    c.str_fmt("cipher", |r| r.cipher);
    c.str_ref("alpn", |r| r.alpn.as_deref().map(Into::into));
    c.col("session_id_echoed", |r| r.session_id_echoed);
    c.col("cert_count", |r| r.cert_count);
    c.col("cert_chain_bytes", |r| r.cert_chain_bytes);
    c.col("resumed", |r| r.resumed);
    c.ts("handshake_done_ts", |r| r.handshake_done_ts);
    c.dur("handshake", |r| r.handshake_ns);
    c.str_fmt("alert", |r| r.alert.map(|a| a.description));
    c.str_fmt("alert_level", |r| r.alert.map(|a| a.level));
    c.str_ref("alert_by", |r| r.alert.map(|a| a.by.as_str().into()));
    c.ts("alert_ts", |r| r.alert.map(|a| a.ts));
    c.col("incomplete", |r| r.incomplete);
    c.finish()
}

/// The http table (see `docs/metrics.md`, section "http"): one row per request, with the
/// HAR phases of `timings` (one per record, same order, from
/// [`pcapstat_core::Analysis::timings`]).
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn http_frame(
    capture: Option<&str>,
    records: &[HttpRecord],
    timings: &[RequestTiming],
) -> Result<DataFrame, Error> {
    let rows: Vec<(&HttpRecord, Option<&RequestTiming>)> = records
        .iter()
        .enumerate()
        .map(|(i, h)| (h, timings.get(i)))
        .collect();
    let mut c = Cols::new(&rows);
    c.capture(capture);
    c.ts("request_start", |r| Some(r.0.request_start_ts));
    c.col("conn_id", |r| r.0.conn_id);
    c.col("request_index", |r| r.0.request_index);
    c.col("reused", |r| r.0.request_index > 0);
    c.col("tls_resumed", |r| r.1.and_then(|t| t.tls_resumed));
    c.str_fmt("client_ip", |r| Some(r.0.client.ip));
    c.col("client_port", |r| Some(r.0.client.port));
    c.str_fmt("server_ip", |r| Some(r.0.server.ip));
    c.col("server_port", |r| Some(r.0.server.port));
    c.str_ref("method", |r| r.0.method.as_deref().map(Into::into));
    c.str_ref("host", |r| r.0.host.as_deref().map(Into::into));
    c.str_ref("path", |r| r.0.path.as_deref().map(Into::into));
    c.str_ref("version", |r| Some(r.0.version.as_str().into()));
    c.col("stream_id", |r| r.0.stream_id);
    c.col("status", |r| r.0.status);
    c.dur("dns", |r| r.1.and_then(|t| t.dns_ns));
    c.dur("connect", |r| r.1.and_then(|t| t.connect_ns));
    c.dur("tls", |r| r.1.and_then(|t| t.tls_ns));
    c.dur("send", |r| r.1.and_then(|t| t.send_ns));
    c.dur("wait", |r| r.1.and_then(|t| t.wait_ns));
    c.dur("receive", |r| r.1.and_then(|t| t.receive_ns));
    c.dur("total", |r| r.1.and_then(|t| t.total_ns));
    c.col("request_bytes", |r| {
        r.0.request_header_bytes + r.0.request_body_bytes
    });
    c.col("response_bytes", |r| {
        if r.0.inferred {
            return r.0.response_body_bytes;
        }
        Some(r.0.response_header_bytes? + r.0.response_body_bytes?)
    });
    // Inferred rows: TLS record bytes in the totals, no head / body split.
    let parsed = |r: &(&HttpRecord, _)| !r.0.inferred;
    c.col("request_header_bytes", |r| {
        parsed(r).then_some(r.0.request_header_bytes)
    });
    c.col("request_body_bytes", |r| {
        parsed(r).then_some(r.0.request_body_bytes)
    });
    c.col("response_header_bytes", |r| {
        r.0.response_header_bytes.filter(|_| parsed(r))
    });
    c.col("response_body_bytes", |r| {
        r.0.response_body_bytes.filter(|_| parsed(r))
    });
    c.ts("request_end", |r| r.0.request_end_ts);
    c.ts("response_start", |r| r.0.response_start_ts);
    c.ts("response_end", |r| r.0.response_end_ts);
    c.col("complete", |r| r.0.complete);
    c.col("upgraded", |r| r.0.upgraded);
    c.col("dns_query_frame", |r| r.1.and_then(|t| t.dns_query_frame));
    c.col("inferred", |r| r.0.inferred);
    c.finish()
}

/// The dns table (see `docs/metrics.md`, section "dns"): one row per query message.
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn dns_frame(capture: Option<&str>, records: &[DnsRecord]) -> Result<DataFrame, Error> {
    let mut c = Cols::new(records);
    c.capture(capture);
    c.ts("query_ts", |r| Some(r.query_ts));
    c.col("query_frame", |r| r.query_frame);
    c.str_fmt("client_ip", |r| Some(r.client_ip));
    c.col("client_port", |r| r.client_port);
    c.str_fmt("server_ip", |r| Some(r.server_ip));
    c.col("server_port", |r| r.server_port);
    c.str_ref("transport", |r| Some(r.transport.as_str().into()));
    c.col("id", |r| r.id);
    c.str_ref("qname", |r| Some(r.qname.as_str().into()));
    c.str_fmt("qtype", |r| Some(r.qtype));
    c.str_fmt("rcode", |r| r.rcode);
    c.col("answers", |r| r.answers);
    c.str("addresses", |r| join(&r.addresses, |a| a.to_string()));
    c.col("truncated", |r| r.truncated);
    c.ts("response_ts", |r| r.response_ts);
    c.dur("latency", |r| r.latency_ns);
    c.col("answered", |r| r.answered());
    c.col("icmp_unreachable", |r| r.icmp_unreachable);
    c.dur("icmp_error", |r| r.icmp_error_ns);
    c.dur("waited", |r| r.waited_ns);
    c.col("retry_of", |r| r.retry_of);
    c.finish()
}

/// The websocket table (see `docs/metrics.md`, section "websocket"): one row per WebSocket
/// connection: an HTTP/1.1 connection upgraded by a `101` to `Upgrade: websocket`, or an
/// HTTP/2 stream of an extended CONNECT (RFC 8441).
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn websocket_frame(
    capture: Option<&str>,
    records: &[WebSocketRecord],
) -> Result<DataFrame, Error> {
    let mut c = Cols::new(records);
    c.capture(capture);
    c.col("conn_id", |r| r.conn_id);
    c.str_fmt("client_ip", |r| Some(r.client.ip));
    c.col("client_port", |r| r.client.port);
    c.str_fmt("server_ip", |r| Some(r.server.ip));
    c.col("server_port", |r| r.server.port);
    c.col("stream_id", |r| r.stream_id);
    c.str("url", |r| Some(r.url()));
    c.str_ref("host", |r| r.host.as_deref().map(Into::into));
    c.str_ref("path", |r| r.path.as_deref().map(Into::into));
    c.col("secure", |r| r.secure);
    c.col("deflate", |r| r.deflate);
    c.ts("open", |r| Some(r.open_ts));
    c.ts("end", |r| Some(r.end_ts));
    c.dur("duration", |r| Some(r.duration_ns()));
    c.col("ping_rtts", |r| r.ping_rtts);
    c.dur("ping_rtt_median", |r| r.ping_rtt_median_ns);
    c.dur("ping_rtt_max", |r| r.ping_rtt_max_ns);
    c.str_ref("close_initiator", |r| {
        r.close_initiator.map(|s| s.as_str().into())
    });
    c.col("close_code", |r| r.close_code);
    c.str_ref("close_reason", |r| {
        r.close_reason.as_deref().map(Into::into)
    });
    c.ts("close", |r| r.close_ts);
    c.col("abnormal", |r| r.abnormal());
    c.col("damaged", |r| r.damaged);
    for (sfx, get) in [
        (
            "c2s",
            (|r: &WebSocketRecord| &r.session.from_client) as fn(&WebSocketRecord) -> &WsDirection,
        ),
        ("s2c", |r: &WebSocketRecord| &r.session.from_server),
    ] {
        let n = |base: &str| format!("{base}_{sfx}");
        c.col(&n("messages"), |r| get(r).messages);
        c.col(&n("payload_bytes"), |r| get(r).payload_bytes);
        c.col(&n("frames"), |r| get(r).frames);
        c.col(&n("compressed_messages"), |r| get(r).compressed_messages);
        c.col(&n("pings"), |r| get(r).pings);
        c.col(&n("pongs"), |r| get(r).pongs);
        c.dur(&n("max_idle"), |r| Some(get(r).max_idle_ns));
    }
    c.finish()
}

/// The quic table (see `docs/metrics.md`, section "quic"): one row per QUIC connection.
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn quic_frame(capture: Option<&str>, records: &[QuicRecord]) -> Result<DataFrame, Error> {
    let mut c = Cols::new(records);
    c.capture(capture);
    c.col("conn_id", |r| r.conn_id);
    c.str_fmt("client_ip", |r| Some(r.client.ip));
    c.col("client_port", |r| r.client.port);
    c.str_fmt("server_ip", |r| Some(r.server.ip));
    c.col("server_port", |r| r.server.port);
    c.ts("start", |r| Some(r.start_ts));
    c.ts("end", |r| Some(r.end_ts));
    c.dur("duration", |r| Some(r.end_ts.saturating_sub(r.start_ts)));
    c.str("version", |r| r.version.map(quic_version_name));
    c.str("first_version", |r| r.first_version.map(quic_version_name));
    c.col("version_negotiation", |r| r.version_negotiation);
    c.str("vn_versions", |r| {
        join(&r.vn_versions, |v| quic_version_name(*v))
    });
    c.col("retry", |r| r.retry);
    c.str("original_dcid", |r| r.original_dcid.as_deref().map(cid_hex));
    c.str("client_cid", |r| r.client_cid.as_deref().map(cid_hex));
    c.str("server_cid", |r| r.server_cid.as_deref().map(cid_hex));
    c.str_ref("outcome", |r| Some(r.outcome.as_str().into()));
    c.ts("client_initial_ts", |r| r.client_initial_ts);
    c.ts("server_initial_ts", |r| r.server_initial_ts);
    c.ts("server_1rtt_ts", |r| r.server_1rtt_ts);
    c.ts("handshake_done_ts", |r| r.handshake_done_ts);
    c.dur("handshake", |r| r.handshake_ns);
    c.col("handshake_decrypted", |r| r.handshake_decrypted);
    c.col("datagrams_c2s", |r| r.datagrams_c2s);
    c.col("datagrams_s2c", |r| r.datagrams_s2c);
    c.col("bytes_c2s", |r| r.bytes_c2s);
    c.col("bytes_s2c", |r| r.bytes_s2c);
    c.col("crypto_retransmitted_bytes", |r| {
        r.crypto_retransmitted_bytes
    });
    c.col("close_error", |r| r.close_error);
    c.col("migrations", |r| r.migrations);
    c.str_fmt("migrated_client_ip", |r| r.migrated_client.map(|e| e.ip));
    c.col("migrated_client_port", |r| {
        r.migrated_client.map(|e| e.port)
    });
    c.str_ref("close_initiator", |r| {
        r.close_initiator.map(|s| s.as_str().into())
    });
    c.ts("close", |r| r.close_ts);
    c.dur("idle_timeout", |r| r.idle_timeout_ns);
    c.str_ref("ended_by", |r| r.ended_by.map(|e| e.as_str().into()));
    c.col("zero_rtt_packets", |r| r.zero_rtt_packets);
    c.col("zero_rtt_decrypted", |r| r.zero_rtt_decrypted);
    c.col("zero_rtt_accepted", |r| r.zero_rtt_accepted);
    c.col("one_rtt_decrypted", |r| r.one_rtt_decrypted);
    c.ts("server_handshake_done_ts", |r| r.server_handshake_done_ts);
    c.col("key_updates", |r| r.key_updates);
    for (d, sfx) in ["c2s", "s2c"].into_iter().enumerate() {
        c.col(&format!("pn_gaps_{sfx}"), |r| r.pn_gaps[d]);
        c.col(&format!("rtt_samples_{sfx}"), |r| r.rtt_samples[d]);
        c.dur(&format!("rtt_min_{sfx}"), |r| r.rtt_min[d]);
        c.dur(&format!("rtt_median_{sfx}"), |r| r.rtt_median[d]);
        c.col(&format!("stream_bytes_{sfx}"), |r| r.stream_bytes[d]);
    }
    c.col("client_bidi_streams", |r| r.client_bidi_streams);
    c.col("stream_retransmitted_bytes", |r| {
        r.stream_retransmitted_bytes
    });
    c.finish()
}
