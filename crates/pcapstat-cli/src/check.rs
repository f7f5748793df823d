//! `pcapstat check CAPTURE... --rules rules.toml`: rules over the figures of each capture.
//!
//! Exit codes: 0 every rule passed on every capture; 1 a rule failed; 2 a usage error, a rules
//! file that cannot be read or parsed, or a capture that cannot be read (with `--strict`, a
//! damaged one).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use pcapstat::core::RecordSink;
use pcapstat::figures::{Figures, Value};
use pcapstat::{Filter, ReportBuilder, ReportOptions};
use serde_json::json;

use crate::filter::FilterArgs;
use crate::render::plural;
use crate::rules::{parse_rules, Missing, Rule};
use crate::term::{cell, md, table, Color, Style};
use crate::Format;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Capture files (pcap or pcapng, optionally gzip or zstd compressed); a directory stands
    /// for its capture files, as with `analyze`.
    #[arg(required = true, value_name = "CAPTURE")]
    files: Vec<PathBuf>,
    /// Read all the files named (directories expanded) as ONE capture, as `analyze --merge`.
    #[arg(long)]
    merge: bool,
    /// The rules file (TOML; see docs/ci.md and docs/figures.md).
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// Also write the results as JUnit XML (one testsuite per capture, one testcase per rule).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Output format (markdown suits a CI job summary).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Treat a damaged or truncated capture as an error (exit code 2).
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    analysis: crate::AnalysisArgs,
    #[command(flatten)]
    filter: FilterArgs,
}

/// The verdict of one rule on one capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// No data, and the rule says `missing = "pass"`.
    NoDataPass,
    /// No data, and the rule says `missing = "fail"` (the default).
    NoDataFail,
}

impl Verdict {
    pub fn failed(self) -> bool {
        matches!(self, Verdict::Fail | Verdict::NoDataFail)
    }

    /// The verdict for people, its JSON key and its markdown cell.
    fn texts(self) -> [&'static str; 3] {
        match self {
            Verdict::Pass => ["pass", "pass", ":white_check_mark: pass"],
            Verdict::Fail => ["FAIL", "fail", ":x: **fail**"],
            Verdict::NoDataPass => [
                "no data (pass)",
                "no_data_pass",
                ":grey_question: no data (pass)",
            ],
            Verdict::NoDataFail => ["NO DATA (fail)", "no_data_fail", ":x: **no data** (fail)"],
        }
    }

    fn color(self) -> Color {
        match self {
            Verdict::Pass => Color::Green,
            Verdict::NoDataPass => Color::Yellow,
            Verdict::Fail | Verdict::NoDataFail => Color::Red,
        }
    }
}

/// Evaluates one rule on a measured value.
pub fn verdict(rule: &Rule, measured: Option<Value>) -> Verdict {
    match measured {
        None => match rule.missing {
            Missing::Pass => Verdict::NoDataPass,
            Missing::Fail => Verdict::NoDataFail,
        },
        Some(v) => match v.compare(rule.limit) {
            Some(ord) if rule.op.holds(ord) => Verdict::Pass,
            _ => Verdict::Fail,
        },
    }
}

struct RuleResult {
    measured: Option<Value>,
    verdict: Verdict,
}

struct CaptureResult {
    file: String,
    error: Option<String>,
    results: Vec<RuleResult>,
}

/// Largest rules file `check` reads: 16 MiB (a device like `/dev/zero`, or not a rules file,
/// is an error, not unbounded memory).
pub const MAX_RULES_FILE_BYTES: u64 = 16 << 20;

/// Reads a text file of at most `limit` bytes.
fn read_limited(path: &std::path::Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {limit} bytes: not a rules file?"
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let text = match read_limited(&args.rules, MAX_RULES_FILE_BYTES) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "pcapstat: error: cannot read rules file {}: {e}",
                args.rules.display()
            );
            return ExitCode::from(2);
        }
    };
    let rules = match parse_rules(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pcapstat: error: {}:{e}", args.rules.display());
            if let Some(line) = text.lines().nth(e.line.saturating_sub(1)) {
                eprintln!("  {line}");
                eprintln!("  {}^", " ".repeat(line.chars().take(e.column - 1).count()));
            }
            return ExitCode::from(2);
        }
    };
    let Some(analyzer) = args.analysis.analyzer() else {
        return ExitCode::from(2);
    };
    let base = args.filter.filter();
    // Each distinct scope (the common filter and a rule's own) gets a report made while the
    // capture is read, all in one reading; a rule reads its figure from its scope's report.
    let mut scopes: Vec<Filter> = Vec::new();
    let scope_of: Vec<usize> = rules
        .iter()
        .map(|r| {
            let f = base.and(&r.filter);
            scopes.iter().position(|s| *s == f).unwrap_or_else(|| {
                scopes.push(f);
                scopes.len() - 1
            })
        })
        .collect();
    let Some(targets) = crate::targets(&args.files, args.merge) else {
        return ExitCode::from(2);
    };
    let mut captures = Vec::new();
    let mut input_error = false;
    for target in &targets {
        let file = target.name.clone();
        let options = ReportOptions { top: 0 };
        let mut reports: Vec<ReportBuilder> = scopes
            .iter()
            .map(|_| ReportBuilder::new(&options))
            .collect();
        let mut outs: Vec<(&Filter, &mut (dyn RecordSink + Send))> = scopes
            .iter()
            .zip(reports.iter_mut())
            .map(|(f, r)| (f, r as &mut (dyn RecordSink + Send)))
            .collect();
        let read = crate::run_into_each(&analyzer, target, &mut outs);
        let (error, results) = match read {
            Err(e) => {
                eprintln!("pcapstat: error: {file}: {e:#}");
                (Some(format!("{e:#}")), Vec::new())
            }
            Ok(end) => match &end.summary.damaged {
                Some(d) if args.strict => {
                    eprintln!("pcapstat: error: {file}: {d}");
                    (Some(d.to_string()), Vec::new())
                }
                _ => {
                    for d in crate::damages(&end.summary) {
                        eprintln!("pcapstat: warning: {file}: {d}");
                    }
                    let figures: Vec<Figures> = reports
                        .into_iter()
                        .map(|r| r.finish(end.summary.clone(), end.stats.clone()).figures)
                        .collect();
                    let results = rules
                        .iter()
                        .zip(&scope_of)
                        .map(|(r, &i)| {
                            let measured = figures
                                .get(i)
                                .and_then(|f| f.value(&r.figure.name).flatten());
                            RuleResult {
                                measured,
                                verdict: verdict(r, measured),
                            }
                        })
                        .collect();
                    (None, results)
                }
            },
        };
        input_error |= error.is_some();
        captures.push(CaptureResult {
            file,
            error,
            results,
        });
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = match args.format {
        Format::Text => write_text(&mut out, Style::for_stdout(), &rules, &captures),
        Format::Markdown => write_markdown(&mut out, &rules, &captures),
        Format::Json => write_json(&mut out, &rules, &captures),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("pcapstat: error: writing output: {e}");
        }
        return ExitCode::from(2);
    }
    if let Some(path) = &args.junit {
        let xml = junit(&rules, &captures);
        if let Err(e) = std::fs::write(path, xml) {
            eprintln!("pcapstat: error: writing {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    let failed = captures
        .iter()
        .any(|c| c.results.iter().any(|r| r.verdict.failed()));
    if input_error {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn measured_text(m: Option<Value>) -> String {
    m.map_or("no data".to_string(), |v| v.to_string())
}

fn limit_text(r: &Rule) -> String {
    format!("{} {}", r.op, r.limit)
}

struct Totals {
    rules: usize,
    passed: usize,
    failed: usize,
    errors: usize,
}

fn totals(captures: &[CaptureResult]) -> Totals {
    let all = || captures.iter().flat_map(|c| &c.results);
    Totals {
        rules: all().count(),
        passed: all().filter(|r| !r.verdict.failed()).count(),
        failed: all().filter(|r| r.verdict.failed()).count(),
        errors: captures.iter().filter(|c| c.error.is_some()).count(),
    }
}

fn summary_line(t: &Totals, rules: usize, captures: usize) -> String {
    let mut s = format!(
        "{} on {}: {} passed, {} failed",
        plural(rules as u64, "rule", "rules"),
        plural(captures as u64, "capture", "captures"),
        t.passed,
        t.failed
    );
    if t.errors > 0 {
        let errors = plural(t.errors as u64, "capture", "captures");
        s.push_str(&format!(", {errors} not read"));
    }
    s
}

fn write_text(
    out: &mut dyn Write,
    style: Style,
    rules: &[Rule],
    captures: &[CaptureResult],
) -> io::Result<()> {
    for c in captures {
        writeln!(
            out,
            "{}",
            style.paint(Some(Color::Bold), &format!("Check {}", c.file))
        )?;
        if let Some(e) = &c.error {
            writeln!(
                out,
                "  {}",
                style.paint(Some(Color::Red), &format!("error: {e}"))
            )?;
            continue;
        }
        let rows: Vec<_> = rules
            .iter()
            .zip(&c.results)
            .map(|(r, res)| {
                vec![
                    cell(r.label.clone(), None),
                    cell(measured_text(res.measured), None),
                    cell(limit_text(r), None),
                    cell(res.verdict.texts()[0], Some(res.verdict.color())),
                ]
            })
            .collect();
        table(
            out,
            style,
            "  ",
            &["RULE", "MEASURED", "LIMIT", "VERDICT"],
            &[1],
            &rows,
        )?;
    }
    let t = totals(captures);
    let line = summary_line(&t, rules.len(), captures.len());
    let color = if t.failed + t.errors > 0 {
        Color::Red
    } else {
        Color::Green
    };
    writeln!(out, "{}", style.paint(Some(color), &line))
}

fn write_markdown(
    out: &mut dyn Write,
    rules: &[Rule],
    captures: &[CaptureResult],
) -> io::Result<()> {
    let t = totals(captures);
    let status = if t.errors > 0 {
        "error"
    } else if t.failed > 0 {
        "failed"
    } else {
        "passed"
    };
    writeln!(out, "### pcapstat check: {status}")?;
    writeln!(out)?;
    writeln!(out, "{}", summary_line(&t, rules.len(), captures.len()))?;
    writeln!(out)?;
    writeln!(out, "| capture | rule | measured | limit | verdict |")?;
    writeln!(out, "|---|---|---:|---|---|")?;
    for c in captures {
        if let Some(e) = &c.error {
            writeln!(out, "| `{}` | | | | :x: error: {} |", md(&c.file), md(e))?;
            continue;
        }
        for (r, res) in rules.iter().zip(&c.results) {
            writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                md(&c.file),
                md(&r.label),
                md(&measured_text(res.measured)),
                md(&limit_text(r)),
                res.verdict.texts()[2],
            )?;
        }
    }
    Ok(())
}

fn write_json(out: &mut dyn Write, rules: &[Rule], captures: &[CaptureResult]) -> io::Result<()> {
    let t = totals(captures);
    let caps: Vec<_> = captures
        .iter()
        .map(|c| {
            let results: Vec<_> = rules
                .iter()
                .zip(&c.results)
                .map(|(r, res)| {
                    json!({
                        "rule": r.label,
                        "figure": r.figure.name,
                        "unit": r.figure.unit.as_str(),
                        "op": r.op.as_str(),
                        "limit": json!(r.limit),
                        "measured": json!(res.measured),
                        "scope": r.scope(),
                        "line": r.line,
                        "verdict": res.verdict.texts()[1],
                        "passed": !res.verdict.failed(),
                    })
                })
                .collect();
            json!({"file": c.file, "error": c.error, "rules": results})
        })
        .collect();
    let v = json!({
        "passed": t.failed == 0 && t.errors == 0,
        "failed": t.failed,
        "errors": t.errors,
        "captures": caps,
    });
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)
}

/// Escapes text for XML attributes and content; characters XML 1.0 cannot hold are dropped.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// JUnit XML: one testsuite per capture, one testcase per rule; a failed rule has a
/// `<failure>` with the measured value and the limit, a rule without data that passes is
/// `<skipped>`, a capture that could not be read has one testcase with an `<error>`.
fn junit(rules: &[Rule], captures: &[CaptureResult]) -> String {
    let t = totals(captures);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str(&format!(
        "<testsuites name=\"pcapstat check\" tests=\"{}\" failures=\"{}\" errors=\"{}\">\n",
        t.rules + t.errors,
        t.failed,
        t.errors
    ));
    for c in captures {
        let name = xml_escape(&c.file);
        if let Some(e) = &c.error {
            x.push_str(&format!(
                "  <testsuite name=\"{name}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n    <testcase classname=\"{name}\" name=\"read capture\">\n      <error message=\"{}\" type=\"input\"/>\n    </testcase>\n  </testsuite>\n",
                xml_escape(e)
            ));
            continue;
        }
        let failures = c.results.iter().filter(|r| r.verdict.failed()).count();
        let skipped = c
            .results
            .iter()
            .filter(|r| r.verdict == Verdict::NoDataPass)
            .count();
        x.push_str(&format!(
            "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n",
            c.results.len()
        ));
        for (r, res) in rules.iter().zip(&c.results) {
            let case = format!(
                "    <testcase classname=\"{name}\" name=\"{}\"",
                xml_escape(&r.label)
            );
            let detail = format!(
                "measured {}, limit {}",
                measured_text(res.measured),
                limit_text(r)
            );
            match res.verdict {
                Verdict::Pass => x.push_str(&format!("{case}/>\n")),
                Verdict::NoDataPass => x.push_str(&format!(
                    "{case}>\n      <skipped message=\"no data (missing = pass)\"/>\n    </testcase>\n"
                )),
                Verdict::Fail | Verdict::NoDataFail => x.push_str(&format!(
                    "{case}>\n      <failure message=\"{}\" type=\"{}\">{}: {}\nrules file line {}</failure>\n    </testcase>\n",
                    xml_escape(&detail),
                    if res.verdict == Verdict::Fail { "threshold" } else { "no data" },
                    xml_escape(&r.expression()),
                    xml_escape(&detail),
                    r.line
                )),
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped() {
        assert_eq!(
            xml_escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
    }

    #[test]
    fn verdicts() {
        let rules = parse_rules(
            "[[rule]]\nrule = 'connect.p95 < 1ms'\n[[rule]]\nrule = 'connect.p95 < 1ms'\nmissing = 'pass'\n",
        )
        .unwrap();
        assert_eq!(
            verdict(&rules[0], Some(Value::Duration(999_999))),
            Verdict::Pass
        );
        assert_eq!(
            verdict(&rules[0], Some(Value::Duration(1_000_000))),
            Verdict::Fail
        );
        assert_eq!(verdict(&rules[0], None), Verdict::NoDataFail);
        assert_eq!(verdict(&rules[1], None), Verdict::NoDataPass);
    }
}
