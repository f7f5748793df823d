//! Streaming without polars: counts the records of a capture as they leave the analysis
//! ([`Analyzer::analyze_into`]), keeping none of them. Memory stays bounded by what is open at
//! once (docs/performance.md, "Streaming"); `scripts/synflood-ratio.sh N
//! target/release/examples/stream` measures it.
//!
//! `cargo run -p pcapstat-core --example stream -- FILE [--mmap]` (`-` reads standard input;
//! `--mmap` maps a plain file as the CLI does, for profiling the reading the CLI does).

use pcapstat_core::{Analyzer, Capture, Filter, MmapChoice, RecordSink, Records};

#[derive(Default)]
struct Count {
    batches: u64,
    connections: u64,
    tls: u64,
    http: u64,
    dns: u64,
}

impl RecordSink for Count {
    fn records(&mut self, r: Records) {
        self.batches += 1;
        self.connections += r.connections.len() as u64;
        self.tls += r.tls.len() as u64;
        self.http += r.http.len() as u64;
        self.dns += r.dns.len() as u64;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "testdata/stream/connections.pcap".to_string());
    let capture = if path == "-" {
        Capture::from_reader(std::io::stdin())?
    } else if std::env::args().any(|a| a == "--mmap") {
        // SAFETY: the benchmark captures this is for are written once, before it runs, and not
        // changed while it reads them (the promise `MmapChoice::auto` asks for; the CLI maps
        // files on the same terms).
        #[allow(unsafe_code)]
        let mmap = unsafe { MmapChoice::auto() };
        Capture::open_with(&path, mmap)?
    } else {
        Capture::open(&path)?
    };
    let mut count = Count::default();
    let end = Analyzer::new().analyze_into(capture, &Filter::default(), &mut count)?;
    println!(
        "{} frames; {} batches: {} connections, {} tls, {} http, {} dns; {} evictions",
        end.summary.frames,
        count.batches,
        count.connections,
        count.tls,
        count.http,
        count.dns,
        end.stats.tcp.evictions
    );
    Ok(())
}
