//! The `pcapstat` command-line tool: a thin layer over the `pcapstat` library.
//!
//! Exit codes: 0 success; 2 an input could not be read (not a capture, I/O error) or, with
//! `--strict`, a capture was damaged; a damaged capture without `--strict` still exits 0, with a
//! warning on stderr and `damaged` filled in the JSON output.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use pcapstat::core::CaptureError;
use pcapstat::polars::prelude::DataFrame;
use pcapstat::{Analysis, Analyzer, ParquetSource, TextFormat};

mod render;
mod report;

const EXAMPLES: &str = "\
Examples:
  pcapstat analyze capture.pcap
  pcapstat analyze capture.pcapng --parquet out/     # out/connections.parquet
  pcapstat analyze a.pcap b.pcapng.zst --format json --threads 2
  tcpdump -w - -U | pcapstat analyze -
  pcapstat analyze --strict nightly.pcap.gz   # exit 2 if the capture is damaged";

/// Network timing answers from packet captures (pcap, pcapng; plain, gzip or zstd).
#[derive(Debug, Parser)]
#[command(name = "pcapstat", version, about, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse captures: what each holds (format, time range, frames, protocols, damage) and
    /// its TCP connections (outcomes, connect and RTT percentiles, retransmissions, the worst
    /// connections); optionally write the tables as Parquet.
    #[command(after_help = EXAMPLES)]
    Analyze(AnalyzeArgs),
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, optionally gzip or zstd compressed); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Treat a damaged or truncated capture as an error (exit code 2) instead of a warning.
    #[arg(long)]
    strict: bool,
    /// Threads to use; 0 means one per core. The output is identical for any value.
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Write the tables as Parquet files into DIR: connections.parquet, tls.parquet,
    /// http.parquet and dns.parquet, with the rows of all the input files and a `capture`
    /// column naming the file.
    #[arg(long, value_name = "DIR")]
    parquet: Option<PathBuf>,
    /// Write the same tables as CSV files into DIR (TABLE.csv; durations as integer nanoseconds).
    #[arg(long, value_name = "DIR")]
    csv: Option<PathBuf>,
    /// Write the same tables as NDJSON files into DIR (TABLE.ndjson, one object per row;
    /// durations as integer nanoseconds).
    #[arg(long, value_name = "DIR")]
    ndjson: Option<PathBuf>,
    /// Idle timeout in seconds: a connection silent for longer ends; a later packet on its ports
    /// starts a new one.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    idle_timeout: f64,
    /// TLS key log (NSS format, as written with SSLKEYLOGFILE): decrypt the TLS connections it
    /// has secrets for and report their HTTP/1.x requests. Keys embedded in a pcapng file are
    /// used without this flag.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A report for people.
    Text,
    /// One JSON object per file, one per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(&args),
    }
}

impl AnalyzeArgs {
    fn writes_tables(&self) -> bool {
        self.parquet.is_some() || self.csv.is_some() || self.ndjson.is_some()
    }
}

fn analyze(args: &AnalyzeArgs) -> ExitCode {
    if !(args.idle_timeout.is_finite() && args.idle_timeout > 0.0) {
        eprintln!("pcapstat: error: --idle-timeout must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let mut analyzer = Analyzer::new()
        .threads(args.threads)
        .idle_timeout_ns((args.idle_timeout * 1e9).round() as i64);
    if let Some(path) = &args.keylog {
        analyzer = match analyzer.keylog_file(path) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("pcapstat: error: {e}");
                return ExitCode::from(2);
            }
        };
    }
    let mut failed = false;
    let mut tables: Vec<[DataFrame; 4]> = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for (i, path) in args.files.iter().enumerate() {
        let name = path.display().to_string();
        match run_one(&analyzer, path) {
            Ok(analysis) => {
                let summary = analysis.summary();
                if let Some(d) = &summary.damaged {
                    let level = if args.strict { "error" } else { "warning" };
                    eprintln!("pcapstat: {level}: {name}: {d}");
                    failed |= args.strict;
                }
                let records = analysis.connection_records();
                let rep = report::ConnReport::new(records, analysis.tcp_stats());
                let app = report::AppReport::new(&analysis);
                let written = match args.format {
                    Format::Text => {
                        if i > 0 {
                            let _ = writeln!(out);
                        }
                        render::text(&mut out, &name, summary)
                            .and_then(|()| render::connections_text(&mut out, &rep, records))
                            .and_then(|()| render::app_text(&mut out, &app))
                            .and_then(|()| render::damage_text(&mut out, summary))
                    }
                    Format::Json => render::json(&mut out, &name, summary, &rep, records, &app),
                };
                if let Err(e) = written {
                    // A closed pipe (`| head`) is not an error worth a message.
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        eprintln!("pcapstat: error: writing output: {e}");
                    }
                    return ExitCode::from(2);
                }
                if args.writes_tables() {
                    let frames = (|| {
                        Ok::<_, pcapstat::Error>([
                            analysis.connections()?,
                            analysis.tls()?,
                            analysis.http()?,
                            analysis.dns()?,
                        ])
                    })();
                    match frames {
                        Ok(dfs) => tables.push(dfs),
                        Err(e) => {
                            eprintln!("pcapstat: error: {name}: {e}");
                            failed = true;
                        }
                    }
                    sources.push(source_description(path, summary));
                }
            }
            Err(e) => {
                eprintln!("pcapstat: error: {name}: {e:#}");
                if args.format == Format::Json {
                    let _ = render::json_error(&mut out, &name, &format!("{e:#}"));
                }
                failed = true;
            }
        }
    }
    let _ = out.flush();
    if args.writes_tables() {
        if let Err(e) = write_tables(tables, sources, args) {
            eprintln!("pcapstat: error: {e:#}");
            failed = true;
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_one(analyzer: &Analyzer, path: &std::path::Path) -> anyhow::Result<Analysis> {
    if path.as_os_str() == "-" {
        let mut a = analyzer
            .analyze_reader(io::stdin())
            .context("reading standard input")?;
        a.set_source("-");
        Ok(a)
    } else {
        analyzer.analyze_path(path).map_err(|e| match e {
            pcapstat::Error::Capture(CaptureError::Io(io)) => {
                anyhow::Error::new(io).context("cannot read file")
            }
            other => anyhow::Error::new(other),
        })
    }
}

/// `name (N bytes, first_ts..last_ts)` for the Parquet metadata.
fn source_description(path: &std::path::Path, s: &pcapstat::core::CaptureSummary) -> String {
    let size = std::fs::metadata(path)
        .map_or("unknown size".to_string(), |m| format!("{} bytes", m.len()));
    let range = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!("{}..{}", render::rfc3339(a), render::rfc3339(b)),
        _ => "no frames".to_string(),
    };
    format!("{} ({size}, {range})", path.display())
}

fn write_tables(
    tables: Vec<[DataFrame; 4]>,
    sources: Vec<String>,
    args: &AnalyzeArgs,
) -> anyhow::Result<()> {
    if tables.is_empty() {
        anyhow::bail!("no capture could be read: no table written");
    }
    let meta = ParquetSource {
        metadata: vec![
            ("pcapstat.sources".to_string(), sources.join("\n")),
            (
                "pcapstat.options".to_string(),
                format!("idle_timeout={}s", args.idle_timeout),
            ),
        ],
    };
    for (i, name) in TABLES.iter().enumerate() {
        let mut iter = tables.iter().map(|t| t[i].clone());
        let Some(mut all) = iter.next() else {
            continue;
        };
        for df in iter {
            all.vstack_mut_owned(df).context("combining tables")?;
        }
        all.rechunk_mut();
        if let Some(dir) = &args.parquet {
            pcapstat::write_parquet(dir, name, &mut all, &meta)?;
        }
        if let Some(dir) = &args.csv {
            pcapstat::write_text(dir, name, &all, TextFormat::Csv)?;
        }
        if let Some(dir) = &args.ndjson {
            pcapstat::write_text(dir, name, &all, TextFormat::Ndjson)?;
        }
    }
    Ok(())
}

/// The tables written by `--parquet`, in the order of `write_tables`' arrays.
const TABLES: [&str; 4] = ["connections", "tls", "http", "dns"];
