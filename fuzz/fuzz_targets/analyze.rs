//! The whole analysis on arbitrary bytes: capture reading, decoding, the sharded TCP pipeline
//! (on 2 threads), reassembly, the TLS/HTTP/DNS parsers, DNS matching and the request join.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pcapstat_core::app::{AppFactory, UdpDns};
use pcapstat_core::pipeline::{self, PipelineConfig};
use pcapstat_core::{request_timings, Capture};

fuzz_target!(|data: &[u8]| {
    let Ok(mut capture) = Capture::from_bytes(data.to_vec()) else {
        return;
    };
    let mut cfg = PipelineConfig::default();
    cfg.threads = 2;
    let mut udp = UdpDns::default();
    let Ok(out) = pipeline::run_with_udp(&mut capture, &cfg, |_| AppFactory::default(), &mut udp)
    else {
        return;
    };
    let end = out.summary.last_ts.unwrap_or(0);
    let (dns, _) = udp.finish(out.factories.iter().flat_map(|f| &f.dns_tcp), end);
    let (mut tls, mut http) = (Vec::new(), Vec::new());
    for f in out.factories {
        tls.extend(f.tls);
        http.extend(f.http);
    }
    let _ = request_timings(&out.connections, &tls, &http, &dns);
});
