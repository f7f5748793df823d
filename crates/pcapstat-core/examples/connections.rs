//! The record-level API, without polars: every TCP connection of a capture with its outcome and
//! connect time, and the HTTP requests with their phases.
//!
//! `cargo run -p pcapstat-core --example connections -- FILE [KEYLOG]`: with a TLS key log
//! (or keys embedded in a pcapng file), HTTPS requests are listed too.

use std::sync::Arc;

use pcapstat_core::app::{AppConfig, AppFactory, UdpDns};
use pcapstat_core::pipeline::{self, PipelineConfig};
use pcapstat_core::{request_timings, Capture, KeyLog};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/lab/f_refused_syndrop/capture.pcap".to_string());
    let mut capture = Capture::open(&path)?;
    let mut keylog = match std::env::args().nth(2) {
        Some(file) => KeyLog::from_file(file)?,
        None => KeyLog::new(),
    };
    keylog.add_capture_secrets(&capture.decryption_secrets().unwrap_or_default());
    let app = AppConfig::default().with_keylog((!keylog.is_empty()).then(|| Arc::new(keylog)));
    let mut udp = UdpDns::default();
    let out = pipeline::run_with_udp(
        &mut capture,
        &PipelineConfig::default(),
        |_| AppFactory::new(app.clone()),
        &mut udp,
    )?;
    let end = out.summary.last_ts.unwrap_or(0);
    let (dns, _) = udp.finish(out.factories.iter().flat_map(|f| &f.dns_tcp), end);
    for c in &out.connections {
        let connect = c
            .connect_ns
            .map_or("-".to_string(), |ns| format!("{:.3} ms", ns as f64 / 1e6));
        println!(
            "{:>6} {}:{} -> {}:{}  {:<11} connect {connect}",
            c.conn_id,
            c.client_ip,
            c.client_port,
            c.server_ip,
            c.server_port,
            c.outcome.as_str()
        );
    }
    let (mut tls, mut http) = (Vec::new(), Vec::new());
    for f in out.factories {
        tls.extend(f.tls);
        http.extend(f.http);
    }
    tls.sort_by_key(|t| t.conn_id);
    http.sort_by_key(|h| (h.conn_id, h.request_index));
    for (h, t) in http
        .iter()
        .zip(request_timings(&out.connections, &tls, &http, &dns))
    {
        println!(
            "{} {} -> {:?}  wait {:?} ns  total {:?} ns",
            h.method.as_deref().unwrap_or(""),
            h.path.as_deref().unwrap_or(""),
            h.status,
            t.wait_ns,
            t.total_ns
        );
    }
    println!(
        "{} connections, {} TLS handshakes, {} HTTP requests, {} DNS queries",
        out.connections.len(),
        tls.len(),
        http.len(),
        dns.len()
    );
    Ok(())
}
