//! The record-level API, without polars: every TCP connection of a capture with its outcome and
//! connect time, and the HTTP requests with their phases.
//!
//! `cargo run -p pcapstat-core --example connections -- FILE [KEYLOG]`: with a TLS key log
//! (or keys embedded in a pcapng file), HTTPS requests are listed too.

use pcapstat_core::Analyzer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/lab/f_refused_syndrop/capture.pcap".to_string());
    let mut analyzer = Analyzer::new();
    if let Some(file) = std::env::args().nth(2) {
        analyzer = analyzer.keylog_file(file)?;
    }
    let a = analyzer.analyze_path(&path)?;
    for c in &a.connections {
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
    for (h, t) in a.http.iter().zip(&a.timings) {
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
        a.connections.len(),
        a.tls.len(),
        a.http.len(),
        a.dns.len()
    );
    Ok(())
}
