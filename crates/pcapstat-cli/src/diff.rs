//! `pcapstat diff BEFORE AFTER`: the figures of two captures side by side, with the absolute
//! and relative change and whether it is worse or better; `--fail-if` gates.
//!
//! Exit codes (as `check`): 0 no gate failed (or none given); 1 a gate failed; 2 a usage
//! error, a malformed gate or a capture that cannot be read.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use pcapstat::figures::{format_number, Assessment, Comparison as Row, Value};
use pcapstat::ReportOptions;
use serde_json::json;

use crate::filter::FilterArgs;
use crate::render::plural;
use crate::rules::{parse_gate, Change, Gate, Missing};
use crate::term::{cell, md, table, Color, Style};
use crate::Format;

#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The baseline capture.
    #[arg(value_name = "BEFORE")]
    before: PathBuf,
    /// The capture to compare with it.
    #[arg(value_name = "AFTER")]
    after: PathBuf,
    /// Fail (exit 1) when a figure changed this way, e.g. `connect.p95 > +10%`,
    /// `http.total.p99 > +50ms`, `connections.refused > 0`, `http.reuse_rate < -5%`.
    /// Repeatable.
    #[arg(long = "fail-if", value_name = "EXPR")]
    fail_if: Vec<String>,
    /// What a gate over a figure without data on either side does.
    #[arg(long, value_enum, default_value_t = Missing::Fail)]
    missing: Missing,
    /// Only the figures that changed.
    #[arg(long)]
    changed: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    analysis: crate::AnalysisArgs,
    #[command(flatten)]
    filter: FilterArgs,
}

/// How an assessment shows: its word, its colour and its markdown cell (nothing but for a
/// change that is worse or better).
fn shown(a: Assessment) -> (&'static str, Option<Color>, &'static str) {
    match a {
        Assessment::Worse => ("worse", Some(Color::Red), ":small_red_triangle: worse"),
        Assessment::Better => ("better", Some(Color::Green), ":white_check_mark: better"),
        Assessment::Same | Assessment::Changed | Assessment::NoData => ("", None, ""),
    }
}

fn signed(v: Value) -> String {
    let s = match v {
        Value::Number(x) => format_number(x),
        other => other.to_string(),
    };
    if s.starts_with('-') || s == "0" || s == "0ns" {
        s
    } else {
        format!("+{s}")
    }
}

/// A relative change: `+12%`, `-3.5%` (one decimal below 10 %).
fn percent(p: f64) -> String {
    if p.abs() >= 9.95 {
        format!("{p:+.0}%")
    } else {
        format!("{p:+.1}%")
    }
}

fn change_text(r: &Row) -> String {
    match (r.delta, r.relative_pct) {
        (Some(d), Some(p)) if r.assessment != Assessment::Same => {
            format!("{} ({})", signed(d), percent(p))
        }
        (Some(d), None) => signed(d),
        (Some(_), Some(_)) => "=".to_string(),
        (None, _) if r.assessment == Assessment::NoData => String::new(),
        (None, _) => "no data on one side".to_string(),
    }
}

struct GateResult {
    /// The change measured, as text.
    measured: String,
    failed: bool,
    no_data: bool,
}

fn evaluate_gate(g: &Gate, r: &Row, missing: Missing) -> GateResult {
    let (Some(b), Some(a)) = (r.before, r.after) else {
        return GateResult {
            measured: "no data".to_string(),
            failed: missing == Missing::Fail,
            no_data: true,
        };
    };
    let (measured, ord) = match g.change {
        Change::Percent(p) => {
            let rel = b
                .relative_change_pct(a)
                .unwrap_or(if a.as_f64() > b.as_f64() {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                });
            let text = if rel.is_finite() {
                percent(rel)
            } else {
                format!("{} (from 0)", signed(b.delta_to(a)))
            };
            (text, rel.partial_cmp(&p))
        }
        Change::Absolute(v) => {
            let d = b.delta_to(a);
            (signed(d), d.as_f64().partial_cmp(&v.as_f64()))
        }
    };
    GateResult {
        measured,
        failed: ord.is_some_and(|o| g.op.holds(o)),
        no_data: false,
    }
}

pub fn run(args: &DiffArgs) -> ExitCode {
    let mut gates = Vec::new();
    for expr in &args.fail_if {
        match parse_gate(expr) {
            Ok(g) => gates.push(g),
            Err((offset, msg)) => {
                // Characters before the offset (never a byte slice: the offset may be anywhere).
                let col = expr.char_indices().take_while(|(i, _)| *i < offset).count() + 1;
                eprintln!("pcapstat: error: --fail-if {expr:?}: column {col}: {msg}");
                eprintln!("  {expr}");
                eprintln!("  {}^", " ".repeat(col - 1));
                return ExitCode::from(2);
            }
        }
    }
    let Some(analyzer) = args.analysis.analyzer() else {
        return ExitCode::from(2);
    };
    let filter = args.filter.filter();
    let mut figures = Vec::new();
    for path in [&args.before, &args.after] {
        match crate::report_one(&analyzer, path, &filter, &ReportOptions { top: 0 }) {
            Ok(report) => {
                if let Some(d) = &report.summary.damaged {
                    eprintln!("pcapstat: warning: {}: {d}", path.display());
                }
                figures.push(report.figures);
            }
            Err(e) => {
                eprintln!("pcapstat: error: {}: {e:#}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let rows = figures[0].compare(&figures[1]);
    let results: Vec<(usize, GateResult)> = gates
        .iter()
        .map(|g| {
            let i = rows
                .iter()
                .position(|r| r.def.name == g.figure.name)
                .unwrap_or_default();
            (i, evaluate_gate(g, &rows[i], args.missing))
        })
        .collect();
    let shown: Vec<&Row> = rows
        .iter()
        .filter(|r| r.assessment != Assessment::NoData)
        .filter(|r| !args.changed || r.assessment != Assessment::Same)
        .collect();
    let names = [
        args.before.display().to_string(),
        args.after.display().to_string(),
    ];
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = match args.format {
        Format::Text => write_text(
            &mut out,
            Style::for_stdout(),
            &names,
            &shown,
            &gates,
            &results,
        ),
        Format::Markdown => write_markdown(&mut out, &names, &shown, &gates, &results),
        Format::Json => write_json(&mut out, &names, &shown, &gates, &results),
    };
    if let Err(e) = written.and_then(|()| out.flush()) {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("pcapstat: error: writing output: {e}");
        }
        return ExitCode::from(2);
    }
    if results.iter().any(|(_, r)| r.failed) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn opt(v: Option<Value>) -> String {
    v.map_or("-".to_string(), |v| v.to_string())
}

fn gate_word(r: &GateResult) -> (&'static str, Color) {
    match (r.failed, r.no_data) {
        (true, true) => ("NO DATA (fail)", Color::Red),
        (true, false) => ("FAIL", Color::Red),
        (false, true) => ("no data (pass)", Color::Yellow),
        (false, false) => ("pass", Color::Green),
    }
}

fn gates_summary(results: &[(usize, GateResult)]) -> String {
    let failed = results.iter().filter(|(_, r)| r.failed).count();
    let gates = plural(results.len() as u64, "gate", "gates");
    format!(
        "{gates}: {} passed, {failed} failed",
        results.len() - failed
    )
}

fn write_text(
    out: &mut dyn Write,
    style: Style,
    names: &[String; 2],
    rows: &[&Row],
    gates: &[Gate],
    results: &[(usize, GateResult)],
) -> io::Result<()> {
    for (label, name) in ["Diff  before", "      after "].iter().zip(names) {
        let head = format!("{label} {name}");
        writeln!(out, "{}", style.paint(Some(Color::Bold), &head))?;
    }
    let cells: Vec<_> = rows
        .iter()
        .map(|r| {
            vec![
                cell(r.def.name.as_str(), None),
                cell(opt(r.before), None),
                cell(opt(r.after), None),
                cell(change_text(r), shown(r.assessment).1),
                cell(shown(r.assessment).0, shown(r.assessment).1),
            ]
        })
        .collect();
    table(
        out,
        style,
        "  ",
        &["FIGURE", "BEFORE", "AFTER", "CHANGE", ""],
        &[1, 2],
        &cells,
    )?;
    if !gates.is_empty() {
        writeln!(
            out,
            "{}",
            style.paint(Some(Color::Bold), "Gates (--fail-if)")
        )?;
        let cells: Vec<_> = gates
            .iter()
            .zip(results)
            .map(|(g, (_, r))| {
                let (w, c) = gate_word(r);
                vec![
                    cell(g.text.clone(), None),
                    cell(r.measured.clone(), None),
                    cell(w, Some(c)),
                ]
            })
            .collect();
        table(
            out,
            style,
            "  ",
            &["GATE", "CHANGE", "VERDICT"],
            &[1],
            &cells,
        )?;
        let failed = results.iter().any(|(_, r)| r.failed);
        writeln!(
            out,
            "{}",
            style.paint(
                Some(if failed { Color::Red } else { Color::Green }),
                &gates_summary(results)
            )
        )?;
    }
    Ok(())
}

fn write_markdown(
    out: &mut dyn Write,
    names: &[String; 2],
    rows: &[&Row],
    gates: &[Gate],
    results: &[(usize, GateResult)],
) -> io::Result<()> {
    let failed = results.iter().any(|(_, r)| r.failed);
    writeln!(
        out,
        "### pcapstat diff{}",
        if gates.is_empty() {
            ""
        } else if failed {
            ": failed"
        } else {
            ": passed"
        }
    )?;
    writeln!(out)?;
    writeln!(out, "before `{}`, after `{}`", md(&names[0]), md(&names[1]))?;
    writeln!(out)?;
    if !gates.is_empty() {
        writeln!(out, "| gate | change | verdict |")?;
        writeln!(out, "|---|---:|---|")?;
        for (g, (_, r)) in gates.iter().zip(results) {
            let (w, _) = gate_word(r);
            let mark = if r.failed {
                ":x:"
            } else {
                ":white_check_mark:"
            };
            writeln!(
                out,
                "| `{}` | {} | {mark} {w} |",
                md(&g.text),
                md(&r.measured)
            )?;
        }
        writeln!(out)?;
    }
    writeln!(out, "| figure | before | after | change | |")?;
    writeln!(out, "|---|---:|---:|---:|---|")?;
    for r in rows {
        writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            r.def.name,
            md(&opt(r.before)),
            md(&opt(r.after)),
            md(&change_text(r)),
            shown(r.assessment).2
        )?;
    }
    Ok(())
}

fn write_json(
    out: &mut dyn Write,
    names: &[String; 2],
    rows: &[&Row],
    gates: &[Gate],
    results: &[(usize, GateResult)],
) -> io::Result<()> {
    let figures: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "figure": r.def.name,
                "unit": r.def.unit.as_str(),
                "before": json!(r.before),
                "after": json!(r.after),
                "change": json!(r.delta),
                "relative_pct": r.relative_pct,
                "assessment": r.assessment.as_str(),
            })
        })
        .collect();
    let gates: Vec<_> = gates
        .iter()
        .zip(results)
        .map(|(g, (_, r))| {
            json!({"gate": g.text, "figure": g.figure.name, "change": r.measured,
                   "no_data": r.no_data, "passed": !r.failed})
        })
        .collect();
    let v = json!({
        "before": names[0],
        "after": names[1],
        "passed": results.iter().all(|(_, r)| !r.failed),
        "gates": gates,
        "figures": figures,
    });
    serde_json::to_writer(&mut *out, &v)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_signed() {
        assert_eq!(signed(Value::Duration(1_500_000)), "+1.5ms");
        assert_eq!(signed(Value::Number(-0.25)), "-0.25");
        assert_eq!(percent(4650.4), "+4650%");
        assert_eq!(percent(-83.5), "-84%");
        assert_eq!(percent(5.26), "+5.3%");
    }
}
