//! The application tables: tls, http (one row per request, with the HAR phases) and dns.

use std::collections::HashMap;

use polars::prelude::DataFrame;

use pcapstat_core::{
    ConnectionRecord, DnsRecord, DnsTransport, HttpRecord, RequestTiming, TlsRecord,
};

use super::{side, Cols};
use crate::error::Error;

/// TLS version name as tshark writes it (`TLSv1.2`), else the hex wire value.
pub fn tls_version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

/// TLS alert description name (RFC 8446 §6), else the number.
pub fn tls_alert_name(d: u8) -> String {
    let name = match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return d.to_string(),
    };
    name.to_string()
}

/// DNS type mnemonic (A, AAAA, …), else `TYPEnnn` (RFC 3597).
pub fn dns_type_name(t: u16) -> String {
    let name = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        255 => "ANY",
        257 => "CAA",
        _ => return format!("TYPE{t}"),
    };
    name.to_string()
}

/// DNS response code mnemonic (RFC 1035, 2136), else the number.
pub fn dns_rcode_name(r: u8) -> String {
    let name = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return r.to_string(),
    };
    name.to_string()
}

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
    c.u64("conn_id", |r| r.conn_id);
    c.ts("client_hello_ts", |r| r.client_hello_ts);
    c.str_ref("sni", |r| r.sni.as_deref().map(Into::into));
    c.str("alpn_offered", |r| join(&r.alpn_offered, String::clone));
    c.str("versions_offered", |r| {
        join(&r.versions_offered, |v| tls_version_name(*v))
    });
    c.u32("cipher_suites_offered", |r| r.cipher_suites_offered);
    c.u8("session_id_len", |r| r.session_id_len);
    c.bool("session_ticket_offered", |r| r.session_ticket_offered);
    c.bool("psk_offered", |r| r.psk_offered);
    c.bool("client_hello_truncated", |r| r.client_hello_truncated);
    c.str_ref("ja3", |r| r.ja3.as_deref().map(Into::into));
    c.str_ref("ja3_hash", |r| r.ja3_hash.as_deref().map(Into::into));
    c.str_ref("ja4", |r| r.ja4.as_deref().map(Into::into));
    c.ts("server_hello_ts", |r| r.server_hello_ts);
    c.bool("hello_retry", |r| r.hello_retry);
    c.str("version", |r| r.version.map(tls_version_name));
    c.str("cipher", |r| r.cipher.map(|v| format!("0x{v:04x}")));
    c.str_ref("alpn", |r| r.alpn.as_deref().map(Into::into));
    c.bool("session_id_echoed", |r| r.session_id_echoed);
    c.opt_u32("cert_count", |r| r.cert_count);
    c.opt_u64("cert_chain_bytes", |r| r.cert_chain_bytes);
    c.opt_bool("resumed", |r| r.resumed);
    c.ts("handshake_done_ts", |r| r.handshake_done_ts);
    c.dur("handshake", |r| r.handshake_ns);
    c.str("alert", |r| r.alert.map(|(_, d)| tls_alert_name(d)));
    c.str("alert_level", |r| {
        r.alert.map(|(l, _)| match l {
            1 => "warning".to_string(),
            2 => "fatal".to_string(),
            other => other.to_string(),
        })
    });
    c.str_ref("alert_by", |r| r.alert_by.map(|s| side(s).into()));
    c.ts("alert_ts", |r| r.alert_ts);
    c.bool("incomplete", |r| r.incomplete);
    c.finish()
}

/// The http table (see `docs/metrics.md`, section "http"): one row per request, with the
/// HAR phases of `timings` (one per record, same order, from
/// [`pcapstat_core::Analysis::timings`]) and the endpoints of its connection.
///
/// # Errors
/// [`Error::Table`] if polars fails to build the frame.
pub fn http_frame(
    capture: Option<&str>,
    records: &[HttpRecord],
    timings: &[RequestTiming],
    connections: &[ConnectionRecord],
) -> Result<DataFrame, Error> {
    let conns: HashMap<u64, &ConnectionRecord> =
        connections.iter().map(|c| (c.conn_id, c)).collect();
    let rows: Vec<(
        &HttpRecord,
        Option<&RequestTiming>,
        Option<&ConnectionRecord>,
    )> = records
        .iter()
        .enumerate()
        .map(|(i, h)| (h, timings.get(i), conns.get(&h.conn_id).copied()))
        .collect();
    let mut c = Cols::new(&rows);
    c.capture(capture);
    c.ts("request_start", |r| Some(r.0.request_start_ts));
    c.u64("conn_id", |r| r.0.conn_id);
    c.u32("request_index", |r| r.0.request_index);
    c.bool("reused", |r| r.0.request_index > 0);
    c.opt_bool("tls_resumed", |r| r.1.and_then(|t| t.tls_resumed));
    c.str_fmt("client_ip", |r| r.2.map(|c| c.client_ip));
    c.opt_u16("client_port", |r| r.2.map(|c| c.client_port));
    c.str_fmt("server_ip", |r| r.2.map(|c| c.server_ip));
    c.opt_u16("server_port", |r| r.2.map(|c| c.server_port));
    c.str_ref("method", |r| Some(r.0.method.as_str().into()));
    c.str_ref("host", |r| r.0.host.as_deref().map(Into::into));
    c.str_ref("path", |r| Some(r.0.path.as_str().into()));
    c.str_ref("version", |r| Some(r.0.version.as_str().into()));
    c.opt_u32("stream_id", |r| r.0.stream_id);
    c.opt_u16("status", |r| r.0.status);
    c.dur("dns", |r| r.1.and_then(|t| t.dns_ns));
    c.dur("connect", |r| r.1.and_then(|t| t.connect_ns));
    c.dur("tls", |r| r.1.and_then(|t| t.tls_ns));
    c.dur("send", |r| r.1.and_then(|t| t.send_ns));
    c.dur("wait", |r| r.1.and_then(|t| t.wait_ns));
    c.dur("receive", |r| r.1.and_then(|t| t.receive_ns));
    c.dur("total", |r| r.1.and_then(|t| t.total_ns));
    c.u64("request_bytes", |r| {
        r.0.request_header_bytes + r.0.request_body_bytes
    });
    c.opt_u64("response_bytes", |r| {
        Some(r.0.response_header_bytes? + r.0.response_body_bytes?)
    });
    c.u64("request_header_bytes", |r| r.0.request_header_bytes);
    c.u64("request_body_bytes", |r| r.0.request_body_bytes);
    c.opt_u64("response_header_bytes", |r| r.0.response_header_bytes);
    c.opt_u64("response_body_bytes", |r| r.0.response_body_bytes);
    c.ts("request_end", |r| r.0.request_end_ts);
    c.ts("response_start", |r| r.0.response_start_ts);
    c.ts("response_end", |r| r.0.response_end_ts);
    c.bool("complete", |r| r.0.complete);
    c.bool("upgraded", |r| r.0.upgraded);
    c.opt_u64("dns_query_frame", |r| r.1.and_then(|t| t.dns_query_frame));
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
    c.u64("query_frame", |r| r.query_frame);
    c.str_fmt("client_ip", |r| Some(r.client_ip));
    c.u16("client_port", |r| r.client_port);
    c.str_fmt("server_ip", |r| Some(r.server_ip));
    c.u16("server_port", |r| r.server_port);
    c.str("transport", |r| {
        Some(
            match r.transport {
                DnsTransport::Udp => "udp",
                DnsTransport::Tcp => "tcp",
            }
            .to_string(),
        )
    });
    c.u16("id", |r| r.id);
    c.str_ref("qname", |r| Some(r.qname.as_str().into()));
    c.str("qtype", |r| Some(dns_type_name(r.qtype)));
    c.str("rcode", |r| r.rcode.map(dns_rcode_name));
    c.opt_u32("answers", |r| r.answers);
    c.str("addresses", |r| join(&r.addresses, |a| a.to_string()));
    c.opt_bool("truncated", |r| r.truncated);
    c.ts("response_ts", |r| r.response_ts);
    c.dur("latency", |r| r.latency_ns);
    c.bool("answered", |r| r.answered());
    c.bool("icmp_unreachable", |r| r.icmp_unreachable);
    c.dur("icmp_error", |r| r.icmp_error_ns);
    c.dur("waited", |r| r.waited_ns);
    c.opt_u64("retry_of", |r| r.retry_of);
    c.finish()
}
