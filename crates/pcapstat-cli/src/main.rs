//! The `pcapstat` command-line tool: a thin layer over the `pcapstat` library.
//!
//! Exit codes of `analyze`: 0 success; 2 an input could not be read (not a capture, I/O error)
//! or, with `--strict`, a capture was damaged; a damaged capture without `--strict` still exits
//! 0, with a warning on stderr and `damaged` filled in the JSON output. `check` and `diff`: 0 all
//! rules (gates) passed, 1 one failed, 2 usage or input errors.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use pcapstat::core::CaptureError;
use pcapstat::core::MmapChoice;
use pcapstat::core::{RecordSink, StreamEnd};
use pcapstat::{
    Analyzer, HarBuilder, HarOptions, HtmlBuilder, HtmlOptions, Report, ReportAndTables,
    ReportBuilder, ReportOptions, TableOutputs, TableStream,
};

mod check;
mod diff;
mod figures_cmd;
mod filter;
mod progress;
mod render;
mod rules;
mod term;

const EXAMPLES: &str = "\
Examples:
  pcapstat analyze capture.pcap
  pcapstat analyze capture.pcapng --parquet out/     # out/connections.parquet
  pcapstat analyze capture.pcapng --har out.har      # one HAR entry per HTTP request
  pcapstat analyze capture.pcapng --html report.html # waterfall, histograms, servers, failures
  pcapstat analyze a.pcap b.pcapng.zst --format json --threads 2
  pcapstat analyze --merge rotated/           # tcpdump -C/-G files as one capture
  tcpdump -w - -U | pcapstat analyze -
  pcapstat analyze --strict nightly.pcap.gz   # exit 2 if the capture is damaged
  pcapstat analyze capture.pcap --server 10.0.0.2:443 --since +2s --format markdown
  pcapstat check nightly.pcap --rules ci/rules.toml --junit report.xml
  pcapstat diff before.pcap after.pcap --fail-if 'connect.p95 > +10%'";

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
    /// Check rules over the figures of captures (`connect.p95 < "100ms"`): a table of rule,
    /// measured value, limit and verdict; exit 0 when all pass, 1 when one fails, 2 on usage
    /// or input errors.
    #[command(after_help = EXAMPLES)]
    Check(check::CheckArgs),
    /// Compare the figures of two captures, with the absolute and relative change;
    /// `--fail-if` turns it into a regression gate (exit codes as `check`).
    #[command(after_help = EXAMPLES)]
    Diff(diff::DiffArgs),
    /// List the named figures that rules and gates use (unit, definition), or their values
    /// for one capture.
    Figures(figures_cmd::FiguresArgs),
    /// Print a shell completion script (e.g. `pcapstat completions bash >
    /// ~/.local/share/bash-completion/completions/pcapstat`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) of pcapstat or of one of its commands (e.g. `pcapstat man
    /// analyze | man -l -`).
    Man {
        /// A command (`analyze`, `check`, `diff`, `figures`); none: the page of pcapstat.
        command: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, optionally gzip or zstd compressed); `-` reads standard
    /// input; a directory stands for its capture files (not its subdirectories), in natural
    /// name order (tcpdump `-C`/`-G` rotations), each analysed as a capture of its own
    /// (unless --merge).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Read all the files named (directories expanded) as ONE capture: the files of one
    /// capture point (tcpdump `-C`/`-G` rotation, a capture split in parts), their frames in
    /// timestamp order, so that a connection spanning files is one row. Named by the
    /// directory when one directory is given, else `FIRST+N` (the first file, N more).
    #[arg(long)]
    merge: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Entries in each list of the report (slowest connects and requests, most
    /// retransmissions, top SNIs, ...).
    #[arg(long, default_value_t = 5, value_name = "N")]
    top: usize,
    /// Treat a damaged or truncated capture as an error (exit code 2) instead of a warning.
    #[arg(long)]
    strict: bool,
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
    /// Write the tables of --parquet, --csv and --ndjson in the Hive layout, one directory per
    /// capture: DIR/TABLE/capture=NAME/part.parquet (NAME percent-encoded), which pyarrow,
    /// pandas, polars, DuckDB and Spark read as one dataset with a `capture` column.
    #[arg(long)]
    partition: bool,
    /// Write the HTTP requests of the capture as a HAR 1.2 file (docs/har.md): one entry per
    /// row of the http table, with its timings. One capture only (several files: --merge, or
    /// one run per file). Keeps the capture's HTTP rows in memory until the end.
    #[arg(long, value_name = "FILE")]
    har: Option<PathBuf>,
    /// Write a self-contained HTML report of the capture (docs/html.md): a waterfall of the
    /// HTTP requests grouped by connection, latency histograms, retransmissions, throughput
    /// and zero windows over time, the per-server table and the failures. One file, no
    /// network access. One capture only (several files: --merge, or one run per file).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Waterfall rows of --html at most; past it the first half by start and the slowest of
    /// the others are drawn, the rest counted per time bucket.
    #[arg(long, value_name = "N", default_value_t = pcapstat::html::MAX_ROWS, requires = "html")]
    html_max_rows: usize,
    #[command(flatten)]
    filter: filter::FilterArgs,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// How captures are analysed: shared by `analyze`, `check` and `diff`.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalysisArgs {
    /// Threads to use; 0 means one per core. The output is identical for any value.
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Idle timeout in seconds: a connection silent for longer ends; a later packet on its ports
    /// starts a new one.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    pub(crate) idle_timeout: f64,
    /// TLS key log (NSS format, as written with SSLKEYLOGFILE): decrypt the TLS connections it
    /// has secrets for and report their HTTP/1.x and HTTP/2 requests (QUIC: HTTP/3). Keys embedded in a
    /// pcapng file are used without this flag.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,
    /// Read capture files instead of memory-mapping them (standard input redirected from a
    /// file too): for a file another program may cut short while it is read (a mapped file
    /// cut short ends the process) or on a network file system. The same output; a little
    /// slower on large files, less resident memory.
    #[arg(long)]
    no_mmap: bool,
}

impl AnalysisArgs {
    /// The analyzer these options describe; `None` after printing a usage error (the caller
    /// exits with code 2).
    pub(crate) fn analyzer(&self) -> Option<Analyzer> {
        let made = if self.idle_timeout.is_finite() && self.idle_timeout > 0.0 {
            // SAFETY: the files named on the command line are captures that other programs
            // have finished writing; if one is truncated while it is read, the process dies
            // (SIGBUS) instead of reporting damage: the trade-off ripgrep makes for the same
            // speed. A capture still being written is read from standard input
            // (`tcpdump -w - | pcapstat analyze -`), which is never mapped, and `--no-mmap`
            // reads files instead of mapping them.
            #[allow(unsafe_code)]
            let mmap = unsafe { MmapChoice::auto() };
            let mmap = if self.no_mmap {
                MmapChoice::never()
            } else {
                mmap
            };
            let analyzer = Analyzer::new()
                .threads(self.threads)
                .idle_timeout_ns((self.idle_timeout * 1e9).round() as i64)
                .memory_map(mmap);
            match &self.keylog {
                Some(path) => analyzer.keylog_file(path).map_err(|e| e.to_string()),
                None => Ok(analyzer),
            }
        } else {
            Err("--idle-timeout must be a positive number of seconds".to_string())
        };
        made.map_err(|e| eprintln!("pcapstat: error: {e}")).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// A report for people.
    Text,
    /// JSON: `analyze` prints one object per file, one per line; `check` and `diff` one object.
    Json,
    /// Markdown (GitHub-flavoured tables), e.g. for a CI job summary.
    Markdown,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => analyze(&args),
        Command::Check(args) => check::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Figures(args) => figures_cmd::run(&args),
        Command::Completions { shell } => completions(shell),
        Command::Man { command } => man(command.as_deref()),
    }
}

impl AnalyzeArgs {
    fn writes_tables(&self) -> bool {
        self.parquet.is_some() || self.csv.is_some() || self.ndjson.is_some()
    }
}

/// One capture to analyse: a file, or (`--merge`) several files read as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The name in reports, the `capture` column and partitions.
    pub(crate) name: String,
    /// The files (one unless merged); `-` for standard input.
    pub(crate) paths: Vec<PathBuf>,
}

/// The captures the arguments name: each file one (directories expanded, [`expand_dirs`]);
/// with `merge`, all of them one, named by the directory when one directory is given, else by
/// [`pcapstat::core::merged_name`]. `None` after saying why.
pub(crate) fn targets(files: &[PathBuf], merge: bool) -> Option<Vec<Target>> {
    if merge && files.iter().any(|f| f.as_os_str() == "-") {
        eprintln!(
            "pcapstat: error: --merge reads files: standard input (-) cannot be merged (give the files, or a directory)"
        );
        return None;
    }
    let paths = expand_dirs(files)?;
    if !merge {
        return Some(
            paths
                .into_iter()
                .map(|p| Target {
                    name: p.display().to_string(),
                    paths: vec![p],
                })
                .collect(),
        );
    }
    let name = match files {
        // `rot/` and `rot` alike.
        [dir] if dir.is_dir() => dir.components().as_path().display().to_string(),
        _ => pcapstat::core::merged_name(&paths),
    };
    Some(vec![Target { name, paths }])
}

/// The files named, each directory replaced by its capture files (`capture_files`); `None`
/// after saying why (an unreadable directory, or one without a capture).
fn expand_dirs(files: &[PathBuf]) -> Option<Vec<PathBuf>> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        if !f.is_dir() {
            out.push(f.clone());
            continue;
        }
        match pcapstat_core::capture_files(f) {
            Ok(found) if found.is_empty() => {
                eprintln!(
                    "pcapstat: error: {}: a directory without a capture file (pcap, pcapng, gzip or zstd)",
                    f.display()
                );
                return None;
            }
            Ok(found) => out.extend(found),
            Err(e) => {
                eprintln!("pcapstat: error: {}: {e}", f.display());
                return None;
            }
        }
    }
    Some(out)
}

fn analyze(args: &AnalyzeArgs) -> ExitCode {
    let Some(analyzer) = args.analysis.analyzer() else {
        return ExitCode::from(2);
    };
    // The HAR writes the request and response headers: only then are they kept (docs/har.md).
    let analyzer = if args.har.is_some() {
        analyzer.capture_headers(Some(pcapstat::core::HeaderLimits::default()))
    } else {
        analyzer
    };
    let Some(targets) = targets(&args.files, args.merge) else {
        return ExitCode::from(2);
    };
    if args.partition && !args.writes_tables() {
        eprintln!("pcapstat: error: --partition needs --parquet, --csv or --ndjson");
        return ExitCode::from(2);
    }
    if args.har.is_some() && targets.len() > 1 {
        eprintln!(
            "pcapstat: error: --har writes one capture and {} were given: use --merge to read them as one, or one run per file",
            targets.len()
        );
        return ExitCode::from(2);
    }
    if args.html.is_some() && targets.len() > 1 {
        eprintln!(
            "pcapstat: error: --html writes one capture and {} were given: use --merge to read them as one, or one run per file",
            targets.len()
        );
        return ExitCode::from(2);
    }
    let mut har = args
        .har
        .as_ref()
        .map(|_| HarBuilder::new(&HarOptions::default()));
    let mut html = args.html.as_ref().map(|_| {
        let filter = args.filter.filter();
        HtmlBuilder::new(&HtmlOptions {
            max_rows: args.html_max_rows,
            title: targets.first().map_or_else(String::new, |t| t.name.clone()),
            filter: Some(filter.to_string()).filter(|f| !f.is_empty()),
        })
    });
    let mut html_end = None;
    if args.partition {
        let mut seen = std::collections::BTreeSet::new();
        if let Some(dup) = targets.iter().find(|t| !seen.insert(t.name.as_str())) {
            eprintln!(
                "pcapstat: error: --partition: {} is given twice; its partitions would overwrite each other",
                dup.name
            );
            return ExitCode::from(2);
        }
    }

    let mut failed = false;
    // The table files, written while the captures are read; an error that stops them is
    // reported after the reports, as the files are.
    let mut table_error: Option<anyhow::Error> = None;
    let mut tables = if args.writes_tables() {
        let outputs = TableOutputs {
            parquet: args.parquet.clone(),
            csv: args.csv.clone(),
            ndjson: args.ndjson.clone(),
            partition: args.partition,
            metadata: parquet_options(args),
        };
        match TableStream::begin(&outputs) {
            Ok(t) => Some(t),
            Err(e) => {
                table_error = Some(e.into());
                None
            }
        }
    } else {
        None
    };
    let mut captures_read = 0;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let filter = args.filter.filter();
    let style = term::Style::for_stdout();
    let width = term::width();
    for (i, target) in targets.iter().enumerate() {
        let name = target.name.clone();
        let mut report =
            ReportBuilder::new(&ReportOptions { top: args.top }).threads(args.analysis.threads);
        if let Some(t) = tables.as_mut() {
            t.start_capture(&name);
        }
        let mut sink = ReportAndTables {
            report: &mut report,
            tables: tables.as_mut(),
            har: har.as_mut(),
            html: html.as_mut(),
        };
        let sink: &mut (dyn RecordSink + Send) = &mut sink;
        match run_into_each(&analyzer, target, &mut [(&filter, sink)]) {
            Ok(end) => {
                if html.is_some() {
                    html_end = Some((end.summary.clone(), end.stats.clone()));
                }
                let report = report.finish(end.summary, end.stats);
                for d in damages(&report.summary) {
                    let level = if args.strict { "error" } else { "warning" };
                    eprintln!("pcapstat: {level}: {name}: {d}");
                    failed |= args.strict;
                }
                let ctx = render::Ctx {
                    style,
                    width,
                    first_ts: report.summary.first_ts,
                };
                let written = match args.format {
                    Format::Text => {
                        if i > 0 {
                            let _ = writeln!(out);
                        }
                        render::text(&mut out, &ctx, &name, &report, &filter)
                            .and_then(|()| render::connections_text(&mut out, &ctx, &report))
                            .and_then(|()| render::app_text(&mut out, &ctx, &report))
                            .and_then(|()| render::hosts_text(&mut out, &ctx, &report))
                            .and_then(|()| render::offenders_text(&mut out, &ctx, &report))
                            .and_then(|()| render::damage_text(&mut out, &ctx, &report.summary))
                    }
                    Format::Markdown => render::markdown(&mut out, &ctx, &name, &report, &filter),
                    Format::Json => render::json(&mut out, &name, &report, &filter),
                };
                if let Err(e) = written {
                    // A closed pipe (`| head`) is not an error worth a message.
                    if e.kind() != io::ErrorKind::BrokenPipe {
                        eprintln!("pcapstat: error: writing output: {e}");
                    }
                    return ExitCode::from(2);
                }
                captures_read += 1;
                if let Some(t) = tables.as_mut() {
                    let source = source_description(target, &report.summary);
                    if let Err(e) = t.end_capture(&source) {
                        table_error = Some(e.into());
                        tables = None;
                    }
                }
            }
            Err(e) => {
                eprintln!("pcapstat: error: {name}: {e:#}");
                if args.format == Format::Json {
                    let _ = render::json_error(&mut out, &name, &format!("{e:#}"));
                }
                failed = true;
                if let Some(t) = tables.as_mut() {
                    if let Err(e) = t.abort_capture() {
                        table_error = Some(e.into());
                        tables = None;
                    }
                }
            }
        }
    }
    let _ = out.flush();
    if args.writes_tables() {
        let written = match (table_error, tables) {
            _ if captures_read == 0 => Err(anyhow::anyhow!(
                "no capture could be read: no table written"
            )),
            (Some(e), _) => Err(e),
            (None, Some(t)) => t.commit().map(drop).map_err(anyhow::Error::from),
            (None, None) => Ok(()),
        };
        if let Err(e) = written {
            eprintln!("pcapstat: error: {e:#}");
            failed = true;
        }
    }
    if let (Some(path), Some(har)) = (&args.har, har) {
        let written = if captures_read == 0 {
            Err(anyhow::anyhow!("no capture could be read: no HAR written"))
        } else {
            har.write_file(path).map_err(anyhow::Error::from)
        };
        if let Err(e) = written {
            eprintln!("pcapstat: error: {e:#}");
            failed = true;
        }
    }
    if let (Some(path), Some(html)) = (&args.html, html) {
        let written = match html_end {
            None => Err(anyhow::anyhow!(
                "no capture could be read: no HTML report written"
            )),
            Some((summary, stats)) => html
                .finish(summary, stats)
                .write_file(path)
                .map_err(anyhow::Error::from),
        };
        if let Err(e) = written {
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

/// Every damage of a capture: its one, or each input's of a merge.
pub(crate) fn damages(
    s: &pcapstat::core::CaptureSummary,
) -> impl Iterator<Item = &pcapstat::core::Damaged> {
    let each = s.inputs.iter().filter_map(|i| i.damaged.as_ref());
    s.damaged.iter().filter(|_| s.inputs.is_empty()).chain(each)
}

/// Reads and analyses one capture (`-`: standard input), handing its records that pass
/// `filter` to `sink` as they become final.
pub(crate) fn run_one_into(
    analyzer: &Analyzer,
    path: &Path,
    filter: &pcapstat::Filter,
    sink: &mut (dyn RecordSink + Send),
) -> anyhow::Result<StreamEnd> {
    run_one_into_each(analyzer, path, &mut [(filter, sink)])
}

/// Reads and analyses one capture, a file or several merged ([`Target`]), for several filters
/// in one reading, each with its sink.
pub(crate) fn run_into_each(
    analyzer: &Analyzer,
    target: &Target,
    outs: &mut [(&pcapstat::Filter, &mut (dyn RecordSink + Send))],
) -> anyhow::Result<StreamEnd> {
    let [one] = target.paths.as_slice() else {
        let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let analyzer = &analyzer.clone().progress(consumed.clone());
        let total = target
            .paths
            .iter()
            .map(|p| progress::plain_size(p))
            .sum::<Option<u64>>();
        let short = Path::new(&target.name)
            .file_name()
            .map_or_else(|| target.name.clone(), |n| n.to_string_lossy().into_owned());
        let _progress = progress::Progress::start(&short, total, consumed);
        return analyzer
            .analyze_merged_into_each(&target.paths, outs)
            .map_err(read_error);
    };
    run_one_into_each(analyzer, one, outs)
}

/// As [`run_one_into`], for several filters in one reading, each with its sink.
pub(crate) fn run_one_into_each(
    analyzer: &Analyzer,
    path: &Path,
    outs: &mut [(&pcapstat::Filter, &mut (dyn RecordSink + Send))],
) -> anyhow::Result<StreamEnd> {
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let analyzer = &analyzer.clone().progress(consumed.clone());
    let _progress = progress_for(path, consumed);
    if path.as_os_str() == "-" {
        let stdin = io::stdin();
        // A pipe (`tcpdump -w - |`): larger reads, fewer switches between writer and reader.
        pcapstat_core::widen_pipe(&stdin);
        // A file (`- < f`): mapped as its path would be.
        #[cfg(unix)]
        if let Ok(fd) = std::os::fd::AsFd::as_fd(&stdin).try_clone_to_owned() {
            return analyzer
                .analyze_file_into_each(std::fs::File::from(fd), outs)
                .context("reading standard input");
        }
        analyzer
            .analyze_reader_into_each(stdin, outs)
            .context("reading standard input")
    } else {
        analyzer
            .analyze_path_into_each(path, outs)
            .map_err(read_error)
    }
}

/// The progress bar of reading `path` (none for standard input's unknown size).
fn progress_for(
    path: &Path,
    consumed: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> progress::Progress {
    let total = if path.as_os_str() == "-" {
        None
    } else {
        progress::plain_size(path)
    };
    let short = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    progress::Progress::start(&short, total, consumed)
}

fn read_error(e: pcapstat::Error) -> anyhow::Error {
    match e {
        pcapstat::Error::Capture(CaptureError::Io(io)) => {
            anyhow::Error::new(io).context("cannot read file")
        }
        other => anyhow::Error::new(other),
    }
}

/// The report of one capture (`-`: standard input) after `filter`, made while it is read.
pub(crate) fn report_one(
    analyzer: &Analyzer,
    path: &Path,
    filter: &pcapstat::Filter,
    options: &ReportOptions,
) -> anyhow::Result<Report> {
    let mut report = ReportBuilder::new(options);
    let end = run_one_into(analyzer, path, filter, &mut report)?;
    Ok(report.finish(end.summary, end.stats))
}

/// `name (N bytes, first_ts..last_ts)` for the Parquet metadata; a merge: `name (N files, M
/// bytes, ...)`.
fn source_description(target: &Target, s: &pcapstat::core::CaptureSummary) -> String {
    let size = target
        .paths
        .iter()
        .map(|p| std::fs::metadata(p).ok().map(|m| m.len()))
        .sum::<Option<u64>>()
        .map_or("unknown size".to_string(), |n| format!("{n} bytes"));
    let files = match target.paths.len() {
        1 => String::new(),
        n => format!("{n} files, "),
    };
    let range = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!("{}..{}", render::rfc3339(a), render::rfc3339(b)),
        _ => "no frames".to_string(),
    };
    format!("{} ({files}{size}, {range})", target.name)
}

/// Parquet key-value metadata after `pcapstat.sources`: the options that shaped the tables.
fn parquet_options(args: &AnalyzeArgs) -> Vec<(String, String)> {
    let mut options = format!("idle_timeout={}s", args.analysis.idle_timeout);
    if let Some(k) = &args.analysis.keylog {
        options.push_str(&format!(" keylog={}", k.display()));
    }
    vec![("pcapstat.options".to_string(), options)]
}

/// `pcapstat completions SHELL`: the completion script on standard output.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "pcapstat", &mut out);
    write_stdout(&out, "the completion script")
}

/// Writes `bytes` to standard output; a closed pipe or a full disk is an error (exit 2), not
/// a panic.
fn write_stdout(bytes: &[u8], what: &str) -> ExitCode {
    use std::io::Write;
    match std::io::stdout().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing {what}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `pcapstat man [COMMAND]`: the man page on standard output.
fn man(command: Option<&str>) -> ExitCode {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    cmd.build();
    let man = match command {
        None => clap_mangen::Man::new(cmd),
        Some(name) => match cmd.find_subcommand(name) {
            Some(sub) => clap_mangen::Man::new(sub.clone()).title(format!("pcapstat-{name}")),
            None => {
                eprintln!("error: no command `{name}` (analyze, check, diff, figures)");
                return ExitCode::from(2);
            }
        },
    };
    let mut out = Vec::new();
    if let Err(e) = man.render(&mut out) {
        eprintln!("error: writing the man page: {e}");
        return ExitCode::from(2);
    }
    write_stdout(&out, "the man page")
}
