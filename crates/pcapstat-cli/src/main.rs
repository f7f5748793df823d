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
use pcapstat::core::decode::{DecodeLimits, Decoder};
use pcapstat::core::{Capture, CaptureError, CaptureSummary};

mod render;

const EXAMPLES: &str = "\
Examples:
  pcapstat analyze capture.pcap
  pcapstat analyze a.pcap b.pcapng.zst --format json
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
    /// Summarise what each capture holds: format, link types, time range, frames, bytes,
    /// protocols, truncation, fragments and undecodable frames by reason.
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

fn analyze(args: &AnalyzeArgs) -> ExitCode {
    let mut failed = false;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for (i, path) in args.files.iter().enumerate() {
        let name = path.display().to_string();
        match summarize(path) {
            Ok(summary) => {
                if let Some(d) = &summary.damaged {
                    let level = if args.strict { "error" } else { "warning" };
                    eprintln!("pcapstat: {level}: {name}: {d}");
                    failed |= args.strict;
                }
                let written = match args.format {
                    Format::Text => {
                        if i > 0 {
                            let _ = writeln!(out);
                        }
                        render::text(&mut out, &name, &summary)
                    }
                    Format::Json => render::json(&mut out, &name, &summary),
                };
                if let Err(e) = written {
                    // A closed pipe (`| head`) is not an error worth a message.
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        eprintln!("pcapstat: error: writing output: {e}");
                    }
                    return ExitCode::from(2);
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
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn summarize(path: &std::path::Path) -> anyhow::Result<CaptureSummary> {
    let mut capture = if path.as_os_str() == "-" {
        Capture::from_reader(io::stdin()).context("reading standard input")?
    } else {
        Capture::open(path).map_err(|e| match e {
            CaptureError::Io(io) => anyhow::Error::new(io).context("cannot read file"),
            other => anyhow::Error::new(other),
        })?
    };
    let mut decoder = Decoder::new(DecodeLimits::default());
    Ok(CaptureSummary::scan(&mut capture, &mut decoder)?)
}
