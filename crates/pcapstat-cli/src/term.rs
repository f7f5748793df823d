//! Terminal helpers: colour (only on a terminal, never with `NO_COLOR`), width, aligned tables.

use std::io::{self, IsTerminal, Write};

/// Colour of a table cell or a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Red,
    Green,
    Yellow,
    Bold,
    Dim,
}

/// Whether to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour when standard output is a terminal (or `CLICOLOR_FORCE` is set and not `0`),
    /// never when `NO_COLOR` is set and not empty.
    pub fn for_stdout() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let force = std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0");
        Style {
            color: !no_color && (force || io::stdout().is_terminal()),
        }
    }

    pub fn paint(&self, color: Option<Color>, s: &str) -> String {
        let code = match (self.color, color) {
            (false, _) | (_, None) => return s.to_string(),
            (true, Some(Color::Red)) => "31",
            (true, Some(Color::Green)) => "32",
            (true, Some(Color::Yellow)) => "33",
            (true, Some(Color::Bold)) => "1",
            (true, Some(Color::Dim)) => "2",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }
}

/// Columns available on standard output: `COLUMNS` when set to a number, else the terminal's
/// width, else 80 (never below 40).
pub fn width() -> usize {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
    {
        return n.max(40);
    }
    if io::stdout().is_terminal() {
        if let Some((_, cols)) = console::Term::stdout().size_checked() {
            return usize::from(cols).max(40);
        }
    }
    80
}

/// One cell: text and an optional colour (applied after padding, so columns stay aligned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub text: String,
    pub color: Option<Color>,
}

pub fn cell(text: impl Into<String>, color: Option<Color>) -> Cell {
    Cell {
        text: text.into(),
        color,
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Writes `rows` under `headers`, columns separated by two spaces, indented by `indent`;
/// columns listed in `right` are right-aligned. The last column is not padded.
pub fn table(
    out: &mut dyn Write,
    style: Style,
    indent: &str,
    headers: &[&str],
    right: &[usize],
    rows: &[Vec<Cell>],
) -> io::Result<()> {
    let n = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| chars(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            widths[i] = widths[i].max(chars(&c.text));
        }
    }
    let line = |cells: Vec<Cell>| -> String {
        let mut s = String::from(indent);
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(chars(&c.text));
            let last = i + 1 == cells.len();
            let text = style.paint(c.color, &c.text);
            if right.contains(&i) {
                s.push_str(&" ".repeat(pad));
                s.push_str(&text);
            } else {
                s.push_str(&text);
                if !last {
                    s.push_str(&" ".repeat(pad));
                }
            }
            if !last {
                s.push_str("  ");
            }
        }
        s.trim_end().to_string()
    };
    let head: Vec<Cell> = headers.iter().map(|h| cell(*h, Some(Color::Dim))).collect();
    writeln!(out, "{}", line(head))?;
    for r in rows {
        writeln!(out, "{}", line(r.clone()))?;
    }
    Ok(())
}

/// Writes a markdown table: the header cells as written (`a | b`), one alignment letter per
/// column (`l`eft or `r`ight) and the rows (cells as written).
pub fn md_table(
    out: &mut dyn Write,
    head: &str,
    align: &str,
    rows: &[Vec<String>],
) -> io::Result<()> {
    let align: String = align
        .chars()
        .map(|c| if c == 'r' { "---:|" } else { "---|" })
        .collect();
    writeln!(out, "| {head} |")?;
    writeln!(out, "|{align}")?;
    for r in rows {
        writeln!(out, "| {} |", r.join(" | "))?;
    }
    Ok(())
}

/// Escapes a markdown table cell.
pub fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Wraps `text` at spaces to lines of at most `width` characters; lines after the first are
/// indented by `indent` spaces.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let mut lines: Vec<String> = vec![String::new()];
    for word in text.split(' ') {
        let continued = lines.len() > 1;
        let cur = lines.last_mut().expect("one line");
        let len = cur.chars().count();
        if len > indent && len + 1 + word.chars().count() > width {
            lines.push(format!("{}{word}", " ".repeat(indent)));
        } else {
            if len > 0 && !(continued && len == indent) {
                cur.push(' ');
            }
            cur.push_str(word);
        }
    }
    lines.join("\n")
}

/// Shortens `s` to `max` characters with an ellipsis in the middle.
pub fn shorten(s: &str, max: usize) -> String {
    let n = chars(s);
    if n <= max || max < 5 {
        return s.to_string();
    }
    let keep = max - 1;
    let head: String = s.chars().take(keep / 2).collect();
    let tail: String = s.chars().skip(n - (keep - keep / 2)).collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_colour_after_padding() {
        let mut out = Vec::new();
        let rows = vec![
            vec![
                cell("a", None),
                cell("1", None),
                cell("ok", Some(Color::Green)),
            ],
            vec![
                cell("long", None),
                cell("100", None),
                cell("FAIL", Some(Color::Red)),
            ],
        ];
        table(
            &mut out,
            Style::default(),
            "  ",
            &["X", "N", "V"],
            &[1],
            &rows,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "  X       N  V\n  a       1  ok\n  long  100  FAIL\n"
        );
        let coloured = Style { color: true }.paint(Some(Color::Red), "x");
        assert_eq!(coloured, "\x1b[31mx\x1b[0m");
        assert_eq!(shorten("abcdefghij", 7), "abc…hij");
        assert_eq!(wrap("aaa bbb ccc", 7, 2), "aaa bbb\n  ccc");
        assert_eq!(wrap("short", 80, 2), "short");
    }
}
