//! Rules over figures: the rules file of `pcapstat check` (TOML) and the expressions of
//! `check` (`connect.p95 < "100ms"`) and `diff --fail-if` (`connect.p95 > +10%`).
//!
//! ```toml
//! missing = "fail"                     # default for rules over a figure without data
//!
//! [[rule]]
//! rule = 'connect.p95 < "100ms"'       # expression form
//!
//! [[rule]]
//! figure = "tcp.retransmission_rate"   # table form
//! op = "<"
//! limit = 0.01
//! server = "10.88.7.2:443"             # scope: server, client, sni, port, since, until
//! missing = "pass"
//! name = "few retransmissions to the API"
//! ```

use std::fmt;

use pcapstat::core::split_expression;
pub use pcapstat::core::{line_col, Op};
use pcapstat::figures::{self, parse_duration, Definition, Unit, Value};
use pcapstat::filter::{self, Filter, FilterSpecError};
use serde::Deserialize;

/// What a rule over a figure without data does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Missing {
    /// "no data" fails the rule (the default: a gate must not pass by measuring nothing).
    Fail,
    /// "no data" passes the rule.
    Pass,
}

/// One rule of a rules file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The name given, else the expression (`connect.p95 < 100ms`).
    pub label: String,
    pub figure: &'static Definition,
    pub op: Op,
    pub limit: Value,
    /// The scope: the rule's own filters (combined with the command line's).
    pub filter: Filter,
    pub missing: Missing,
    /// Line of the rule in the file (1-based).
    pub line: usize,
}

impl Rule {
    /// `connect.p95 < 100ms`.
    pub fn expression(&self) -> String {
        format!("{} {} {}", self.figure.name, self.op, self.limit)
    }

    /// The rule's own filters as flags (`--server 10.0.0.1:443`), or empty without a scope.
    pub fn scope(&self) -> String {
        crate::filter::flags(&self.filter)
    }
}

/// A rules-file error at a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    missing: Option<toml::Spanned<String>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    rule: Option<toml::Spanned<String>>,
    figure: Option<toml::Spanned<String>>,
    op: Option<toml::Spanned<String>>,
    limit: Option<toml::Spanned<toml::Value>>,
    missing: Option<toml::Spanned<String>>,
    server: Option<toml::Spanned<String>>,
    client: Option<toml::Spanned<String>>,
    sni: Option<toml::Spanned<String>>,
    port: Option<toml::Spanned<i64>>,
    since: Option<toml::Spanned<String>>,
    until: Option<toml::Spanned<String>>,
}

/// The figure called `name`, or an error with a suggestion.
pub fn figure(name: &str) -> Result<&'static Definition, String> {
    figures::definition(name).ok_or_else(|| match figures::suggest(name) {
        Some(s) => format!("unknown figure {name:?} (did you mean {s:?}?)"),
        None => format!("unknown figure {name:?} (docs/figures.md lists them)"),
    })
}

/// A limit for `def` from text: a duration with a unit for durations, a number otherwise; a
/// ratio may be a percentage (`1%`).
pub fn limit_from_text(def: &Definition, text: &str) -> Result<Value, String> {
    let t = text.trim();
    match def.unit {
        Unit::Duration => {
            if t == "0" {
                return Ok(Value::Duration(0));
            }
            parse_duration(t)
                .map(Value::Duration)
                .map_err(|e| format!("{} is a duration: {e}", def.name))
        }
        Unit::Count | Unit::Ratio | Unit::Number => {
            if let Some(p) = t.strip_suffix('%') {
                if def.unit != Unit::Ratio {
                    return Err(format!(
                        "{} is a {}: a percentage applies to ratios only",
                        def.name,
                        def.unit.as_str()
                    ));
                }
                return p
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(|x| Value::Number(x / 100.0))
                    .ok_or_else(|| format!("{text:?} is not a percentage"));
            }
            if def.unit == Unit::Count {
                if let Ok(n) = t.parse::<u64>() {
                    return Ok(Value::Count(n));
                }
            }
            match t.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Value::Number(x)),
                _ if parse_duration(t).is_ok() => Err(format!(
                    "{} is a {}, not a duration: write a number",
                    def.name,
                    def.unit.as_str()
                )),
                _ => Err(format!("{text:?} is not a number")),
            }
        }
    }
}

fn limit_from_toml(def: &Definition, v: &toml::Value) -> Result<Value, String> {
    match v {
        toml::Value::String(s) => limit_from_text(def, s),
        toml::Value::Integer(i) if def.unit == Unit::Duration => {
            if *i == 0 {
                Ok(Value::Duration(0))
            } else {
                Err(format!(
                    "{} is a duration: write the limit with a unit, e.g. \"{i}ms\"",
                    def.name
                ))
            }
        }
        toml::Value::Integer(i) if def.unit == Unit::Count && *i >= 0 => {
            Ok(Value::Count(i.unsigned_abs()))
        }
        toml::Value::Integer(i) => Ok(Value::Number(*i as f64)),
        toml::Value::Float(x) if def.unit != Unit::Duration && x.is_finite() => {
            Ok(Value::Number(*x))
        }
        toml::Value::Float(_) if def.unit == Unit::Duration => Err(format!(
            "{} is a duration: write the limit as a string with a unit, e.g. \"1.5s\"",
            def.name
        )),
        toml::Value::Float(x) => Err(format!("{x} is not a finite number")),
        other => Err(format!(
            "the limit must be a number or a string, not a {}",
            other.type_str()
        )),
    }
}

fn error_at(text: &str, offset: usize, message: String) -> RuleError {
    let (line, column) = line_col(text, offset);
    RuleError {
        line,
        column,
        message,
    }
}

/// Parses an optional scope value of a rule, errors at the value.
fn scoped<T>(
    text: &str,
    v: &Option<toml::Spanned<String>>,
    parse: impl Fn(&str) -> Result<T, FilterSpecError>,
) -> Result<Option<T>, RuleError> {
    v.as_ref()
        .map(|s| parse(s.get_ref()).map_err(|e| error_at(text, s.span().start, e.message)))
        .transpose()
}

/// Parses a rules file. Errors point at the line and column.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    let at = |offset: usize, message: String| error_at(text, offset, message);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        at(offset, e.message().trim().to_string())
    })?;
    let missing = |m: &Option<toml::Spanned<String>>, default: Missing| match m {
        None => Ok(default),
        Some(m) => clap::ValueEnum::from_str(m.get_ref(), false).map_err(|_| {
            let message = format!(
                "missing must be \"fail\" or \"pass\", not {:?}",
                m.get_ref()
            );
            at(m.span().start, message)
        }),
    };
    let default_missing = missing(&raw.missing, Missing::Fail)?;
    if raw.rule.is_empty() {
        return Err(at(
            0,
            "no rules: add [[rule]] tables (see docs/ci.md)".to_string(),
        ));
    }
    let mut rules = Vec::new();
    // Line numbers counted as the rules go (they come in file order): one pass over the text,
    // not one from its start per rule (16 000 rules took 3 s, 160 000 five minutes).
    let (mut counted_to, mut line) = (0usize, 1usize);
    for spanned in &raw.rule {
        let start = spanned.span().start;
        let rule_line = match text.get(counted_to..start) {
            Some(between) => {
                line += between.bytes().filter(|&b| b == b'\n').count();
                counted_to = start;
                line
            }
            None => line_col(text, start).0,
        };
        let r = spanned.get_ref();
        let (fig, op, limit) = match (&r.rule, &r.figure) {
            (Some(_), Some(f)) => {
                return Err(at(
                    f.span().start,
                    "give either rule = '...' or figure/op/limit, not both".to_string(),
                ))
            }
            (Some(expr), None) => {
                if let Some(x) =
                    r.op.as_ref()
                        .map(|o| o.span().start)
                        .or(r.limit.as_ref().map(|l| l.span().start))
                {
                    return Err(at(
                        x,
                        "op and limit belong to the figure form; the rule expression has them"
                            .to_string(),
                    ));
                }
                // The expression's offsets map into the file after the opening quote.
                let base = expr.span().start + 1;
                let (ftok, op, vtok) =
                    split_expression(expr.get_ref()).map_err(|(o, m)| at(base + o, m))?;
                let def = figure(&ftok.text).map_err(|m| at(base + ftok.offset, m))?;
                let limit =
                    limit_from_text(def, &vtok.text).map_err(|m| at(base + vtok.offset, m))?;
                (def, op, limit)
            }
            (None, Some(f)) => {
                let def = figure(f.get_ref()).map_err(|m| at(f.span().start, m))?;
                let op = match &r.op {
                    None => {
                        return Err(at(
                            start,
                            "rule without op (\"<\", \"<=\", \">\", \">=\", \"==\", \"!=\")"
                                .to_string(),
                        ))
                    }
                    Some(o) => Op::parse(o.get_ref().trim()).ok_or_else(|| {
                        at(
                            o.span().start,
                            format!(
                                "op must be one of <, <=, >, >=, ==, !=, not {:?}",
                                o.get_ref()
                            ),
                        )
                    })?,
                };
                let limit = match &r.limit {
                    None => return Err(at(start, "rule without limit".to_string())),
                    Some(l) => {
                        limit_from_toml(def, l.get_ref()).map_err(|m| at(l.span().start, m))?
                    }
                };
                (def, op, limit)
            }
            (None, None) => {
                return Err(at(
                    start,
                    "rule without rule = '...' or figure = \"...\"".to_string(),
                ))
            }
        };
        let missing = missing(&r.missing, default_missing)?;
        let filter = Filter {
            server: scoped(text, &r.server, filter::parse_server)?,
            client: scoped(text, &r.client, filter::parse_client)?,
            sni: scoped(text, &r.sni, filter::parse_name)?,
            port: r
                .port
                .as_ref()
                .map(|p| {
                    u16::try_from(*p.get_ref()).map_err(|_| {
                        at(
                            p.span().start,
                            format!("{} is not a port number", p.get_ref()),
                        )
                    })
                })
                .transpose()?,
            since: scoped(text, &r.since, filter::parse_time)?,
            until: scoped(text, &r.until, filter::parse_time)?,
        };
        let line = rule_line;
        let mut rule = Rule {
            label: String::new(),
            figure: fig,
            op,
            limit,
            filter,
            missing,
            line,
        };
        rule.label = match &r.name {
            Some(n) => n.clone(),
            None => {
                let scope = rule.scope();
                if scope.is_empty() {
                    rule.expression()
                } else {
                    format!("{} ({scope})", rule.expression())
                }
            }
        };
        rules.push(rule);
    }
    Ok(rules)
}

/// The change threshold of a `diff --fail-if` gate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// A relative change in percent (`+10%`).
    Percent(f64),
    /// An absolute change: a duration for durations, a number otherwise (`+5ms`, `+3`).
    Absolute(Value),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed = |s: String| {
            if s.starts_with('-') {
                s
            } else {
                format!("+{s}")
            }
        };
        match self {
            Change::Percent(p) => write!(f, "{}%", signed(figures::format_number(*p))),
            Change::Absolute(v) => f.write_str(&signed(v.to_string())),
        }
    }
}

/// A `diff --fail-if` gate: the figure's change between BEFORE and AFTER compared to a
/// threshold.
#[derive(Debug, Clone)]
pub struct Gate {
    pub text: String,
    pub figure: &'static Definition,
    pub op: Op,
    pub change: Change,
}

/// Parses `connect.p95 > +10%`, `connections.refused > 0`, `http.total.p99 > +50ms`. Errors
/// carry the byte offset in `expr`.
pub fn parse_gate(expr: &str) -> Result<Gate, (usize, String)> {
    let (ftok, op, vtok) = split_expression(expr)?;
    let def = figure(&ftok.text).map_err(|m| (ftok.offset, m))?;
    let t = vtok.text.trim();
    let change = if let Some(p) = t.strip_suffix('%') {
        let x: f64 = p
            .trim()
            .trim_start_matches('+')
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite())
            .ok_or_else(|| (vtok.offset, format!("{t:?} is not a percentage")))?;
        Change::Percent(x)
    } else {
        let unsigned = t.strip_prefix('+').unwrap_or(t);
        let v = if def.unit == Unit::Duration {
            if unsigned == "0" {
                Value::Duration(0)
            } else {
                Value::Duration(parse_duration(t).map_err(|e| {
                    (
                        vtok.offset,
                        format!("{} is a duration: {e}; or a percentage (+10%)", def.name),
                    )
                })?)
            }
        } else {
            let x: f64 = unsigned
                .parse()
                .ok()
                .filter(|x: &f64| x.is_finite())
                .ok_or_else(|| {
                    (
                        vtok.offset,
                        format!("{t:?} is not a number or a percentage"),
                    )
                })?;
            Value::Number(x)
        };
        Change::Absolute(v)
    };
    Ok(Gate {
        text: format!("{} {} {}", def.name, op, change),
        figure: def,
        op,
        change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #11, bug 8's class (slicing at a byte offset) for the rules parser: the bundled
    /// rules file and the rule-expression fuzz seeds, each mutated many ways (bytes flipped,
    /// cut at every offset, multi-byte characters spliced in), never panic the parser and every
    /// error points inside the text. A deterministic, in-process complement to the
    /// `rule_expression` fuzz target (the TOML layer links polars through the figure table, too
    /// heavy to instrument).
    #[test]
    fn mutated_rules_files_never_panic() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut seeds = vec![std::fs::read(root.join("ci/rules.toml")).unwrap_or_default()];
        if let Ok(dir) = std::fs::read_dir(root.join("fuzz/seeds/rule_expression")) {
            let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                let expr = std::fs::read(&f).unwrap_or_default();
                let mut doc = b"[[rule]]\nrule = '".to_vec();
                doc.extend_from_slice(&expr);
                doc.extend_from_slice(b"'\nserver = \"*.\xc3\xa9xample.com\"\n");
                seeds.push(doc);
            }
        }
        assert!(seeds[0].len() > 100, "ci/rules.toml is read");
        let splice: [&[u8]; 5] = ["é".as_bytes(), "µ".as_bytes(), "😀".as_bytes(), b"'", b"\""];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut tried = 0;
        for seed in &seeds {
            let mut variants: Vec<Vec<u8>> = (0..=seed.len()).map(|n| seed[..n].to_vec()).collect();
            for _ in 0..300 {
                let mut v = seed.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % (v.len() + 1);
                    match next() % 3 {
                        0 if at < v.len() => v[at] ^= 1 << (next() % 8),
                        1 => {
                            let s = splice[(next() as usize) % splice.len()];
                            v.splice(at..at, s.iter().copied());
                        }
                        _ => v.truncate(at),
                    }
                }
                variants.push(v);
            }
            for v in variants {
                let text = String::from_utf8_lossy(&v);
                if let Err(e) = parse_rules(&text) {
                    let lines = text.lines().count().max(1);
                    assert!(e.line >= 1 && e.line <= lines + 1, "{e} in {text:?}");
                }
                tried += 1;
            }
        }
        assert!(tried > 1000);
    }

    fn err(text: &str) -> RuleError {
        parse_rules(text).unwrap_err()
    }

    #[test]
    fn both_forms_parse() {
        let rules = parse_rules(
            r#"
missing = "pass"

[[rule]]
rule = 'connect.p95 < "100ms"'

[[rule]]
figure = "tcp.retransmission_rate"
op = "<"
limit = 0.01
server = "10.88.7.2:443"
missing = "fail"

[[rule]]
rule = "http.reuse_rate >= 80%"
name = "connections are reused"

[[rule]]
figure = "connections.refused"
op = "=="
limit = 0
port = 81
"#,
        )
        .unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[0].expression(), "connect.p95 < 100ms");
        assert_eq!(rules[0].limit, Value::Duration(100_000_000));
        assert_eq!(rules[0].missing, Missing::Pass);
        assert_eq!(rules[0].line, 4);
        assert_eq!(rules[1].missing, Missing::Fail);
        assert_eq!(rules[1].limit, Value::Number(0.01));
        assert_eq!(rules[1].filter.server.as_ref().unwrap().port, Some(443));
        assert_eq!(
            rules[1].label,
            "tcp.retransmission_rate < 0.01 (--server 10.88.7.2:443)"
        );
        assert_eq!(rules[2].limit, Value::Number(0.8));
        assert_eq!(rules[2].label, "connections are reused");
        assert_eq!(rules[3].limit, Value::Count(0));
        assert_eq!(rules[3].filter.port, Some(81));
    }

    #[test]
    fn each_rule_knows_its_line_in_one_pass() {
        // Tables of 2 to 5 lines, comments and blank lines between them: every rule's line is
        // the line of its `[[rule]]` header, as counting from the start of the file gives.
        let mut text = String::from("missing = \"pass\"\n");
        let mut headers = Vec::new();
        for i in 0..2000 {
            text.push_str(&"# note\n".repeat(i % 3));
            headers.push(text.lines().count() + 1);
            text.push_str("[[rule]]\n");
            if i % 2 == 0 {
                text.push_str(&format!("rule = 'connect.p95 < \"{}ms\"'\n", i + 1));
            } else {
                text.push_str("figure = \"tls.handshake.p99\"\nop = \"<\"\nlimit = \"50ms\"\n");
            }
            text.push_str(&"\n".repeat(i % 2));
        }
        let rules = parse_rules(&text).expect("valid");
        let lines: Vec<usize> = rules.iter().map(|r| r.line).collect();
        assert_eq!(lines, headers);
    }

    #[test]
    fn expression_errors_point_into_the_string() {
        let e = err("[[rule]]\nrule = 'conect.p95 < \"100ms\"'\n");
        assert_eq!((e.line, e.column), (2, 9), "{e}");
        assert!(e.message.contains("did you mean \"connect.p95\""), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95 << 100ms'\n");
        assert_eq!((e.line, e.column), (2, 21), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95 < 100'\n");
        assert_eq!((e.line, e.column), (2, 23), "{e}");
        assert!(e.message.contains("no unit"), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95 < 1ms and more'\n");
        assert_eq!((e.line, e.column), (2, 27), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95'\n");
        assert!(e.message.contains("expected a comparison"), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95 é 1s'\n");
        assert!(e.message.contains("found 'é'"), "{e}");
        assert_eq!((e.line, e.column), (2, 21), "{e}");
    }

    #[test]
    fn table_errors_point_at_the_value() {
        let e = err("[[rule]]\nfigure = \"connect.p95\"\nop = \"<\"\nlimit = 100\n");
        assert_eq!((e.line, e.column), (4, 9), "{e}");
        assert!(e.message.contains("\"100ms\""), "{e}");
        let e = err("[[rule]]\nfigure = \"connect.p95\"\nop = \"~\"\nlimit = \"1s\"\n");
        assert_eq!((e.line, e.column), (3, 6), "{e}");
        let e = err("[[rule]]\nfigure = \"tcp.retransmissions\"\nop = \"<\"\nlimit = \"5ms\"\n");
        assert!(e.message.contains("not a duration"), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95 < 1s'\nservr = \"x\"\n");
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("servr"), "{e}");
        let e = err("[[rule]]\nrule = 'connect.p95 < 1s'\nserver = \"10.0.0.1:99999\"\n");
        assert_eq!((e.line, e.column), (3, 10), "{e}");
        let e = err("[[rule]\nrule = 1\n");
        assert_eq!(e.line, 1, "{e}");
        let e = err("missing = \"maybe\"\n[[rule]]\nrule = 'connect.p95 < 1s'\n");
        assert_eq!((e.line, e.column), (1, 11), "{e}");
        let e = err("# nothing\n");
        assert!(e.message.contains("no rules"), "{e}");
        let e = err("[[rule]]\nfigure = \"connect.p95\"\nlimit = \"1s\"\n");
        assert!(e.message.contains("without op"), "{e}");
    }

    #[test]
    fn gates() {
        let g = parse_gate("connect.p95 > +10%").unwrap();
        assert_eq!(g.change, Change::Percent(10.0));
        assert_eq!(g.text, "connect.p95 > +10%");
        let g = parse_gate("http.total.p99 > +50ms").unwrap();
        assert_eq!(g.change, Change::Absolute(Value::Duration(50_000_000)));
        let g = parse_gate("http.reuse_rate < -5%").unwrap();
        assert_eq!(g.change, Change::Percent(-5.0));
        let g = parse_gate("connections.refused > 0").unwrap();
        assert_eq!(g.change, Change::Absolute(Value::Number(0.0)));
        assert_eq!(parse_gate("connect.p95 > +10").unwrap_err().0, 14);
        assert_eq!(parse_gate("conect.p95 > +10%").unwrap_err().0, 0);
    }

    #[test]
    fn positions() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 3), (2, 1));
    }
}
