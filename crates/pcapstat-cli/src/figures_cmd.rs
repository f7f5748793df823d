//! `pcapstat figures [CAPTURE]`: the named figures that rules and gates can use, with their
//! unit and definition, or their values for a capture.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use pcapstat::figures::{definitions, Better};
use pcapstat::{Analyzer, ReportOptions};

use crate::filter::FilterArgs;
use crate::Format;

#[derive(Debug, clap::Args)]
pub struct FiguresArgs {
    /// A capture: print the value of every figure for it (after the filters).
    #[arg(value_name = "CAPTURE")]
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn run(args: &FiguresArgs) -> ExitCode {
    let values = match &args.file {
        None => None,
        Some(path) => {
            let f = args.filter.filter();
            match crate::report_one(&Analyzer::new(), path, &f, &ReportOptions { top: 0 }) {
                Ok(report) => Some(report.figures),
                Err(e) => {
                    eprintln!("pcapstat: error: {}: {e:#}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = (|| -> io::Result<()> {
        match args.format {
            Format::Json => {
                let v = match &values {
                    // sorted by name, as every JSON object pcapstat writes
                    Some(f) => serde_json::to_value(f)?,
                    None => serde_json::Value::Array(
                        definitions()
                            .iter()
                            .map(|d| {
                                serde_json::json!({"figure": d.name, "unit": d.unit.as_str(),
                                                   "definition": d.definition})
                            })
                            .collect(),
                    ),
                };
                serde_json::to_writer(&mut out, &v)?;
                writeln!(out)
            }
            Format::Markdown => {
                writeln!(out, "| figure | unit | value | definition |")?;
                writeln!(out, "|---|---|---:|---|")?;
                for d in definitions() {
                    let v = values.as_ref().and_then(|f| f.value(&d.name));
                    let v = v.map_or(String::new(), |v| v.map_or("-".into(), |v| v.to_string()));
                    writeln!(
                        out,
                        "| `{}` | {} | {v} | {} |",
                        d.name,
                        d.unit.as_str(),
                        crate::term::md(&d.definition)
                    )?;
                }
                Ok(())
            }
            Format::Text => {
                for d in definitions() {
                    match &values {
                        Some(f) => {
                            let v = f.value(&d.name).flatten();
                            let v = v.map_or("no data".to_string(), |v| v.to_string());
                            writeln!(out, "{:<30} {v}", d.name)?;
                        }
                        None => {
                            let better = match d.better {
                                Better::Lower => ", lower is better",
                                Better::Higher => ", higher is better",
                                Better::Neither => "",
                            };
                            writeln!(out, "{:<30} {}{better}", d.name, d.unit.as_str())?;
                            let text = crate::term::wrap(&d.definition, 76, 4);
                            writeln!(out, "    {text}")?;
                        }
                    }
                }
                Ok(())
            }
        }
    })();
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcapstat: error: writing output: {e}");
            ExitCode::from(2)
        }
    }
}
