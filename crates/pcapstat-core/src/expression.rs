//! Expressions of the rules of `pcapstat check` (`connect.p95 < "100ms"`) and the gates of
//! `pcapstat diff --fail-if` (`connect.p95 > +10%`): the split into figure, operator and
//! limit, and positions for error messages. Pure string code: every offset it returns is a
//! character boundary of the text, whatever the text (the `rule_expression` fuzz target
//! checks it). The CLI looks the figure and the limit up (`pcapstat::figures`).

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// `<`, `<=`, `>`, `>=`, `==` or `!=`.
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            _ => return None,
        })
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    /// Whether `a OP b` holds.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Lt => ord == Less,
            Op::Le => ord != Greater,
            Op::Gt => ord == Greater,
            Op::Ge => ord != Less,
            Op::Eq => ord == Equal,
            Op::Ne => ord != Equal,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token of an expression: where it starts (byte offset in the expression) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Byte offset of the token in the expression (a character boundary).
    pub offset: usize,
    /// The token, without its quotes.
    pub text: String,
    /// The token was quoted (`"100ms"`).
    pub quoted: bool,
}

/// `FIGURE OP VALUE`, split.
///
/// # Errors
/// The byte offset in `expr` (a character boundary) and what was expected there.
pub fn split_expression(expr: &str) -> Result<(Token, Op, Token), (usize, String)> {
    let skip = |i: usize| {
        i + expr[i..]
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(expr.len() - i)
    };
    let i = skip(0);
    let name_end = i + expr[i..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(expr.len() - i);
    if name_end == i {
        return Err((i, "expected a figure name, e.g. connect.p95".to_string()));
    }
    let figure = Token {
        offset: i,
        text: expr[i..name_end].to_string(),
        quoted: false,
    };
    let j = skip(name_end);
    let op_len = expr[j..]
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(expr.len() - j);
    let op = Op::parse(&expr[j..j + op_len]).ok_or_else(|| {
        (
            j,
            format!(
                "expected a comparison (<, <=, >, >=, ==, !=) after {:?}{}",
                figure.text,
                match (op_len, expr[j..].chars().next()) {
                    (0, Some(c)) => format!(", found {c:?}"),
                    (0, None) => String::new(),
                    _ => format!(", found {:?}", &expr[j..j + op_len]),
                }
            ),
        )
    })?;
    let k = skip(j + op_len);
    if k >= expr.len() {
        return Err((k, format!("expected a limit after {:?}", op.as_str())));
    }
    let (value, end) = match expr[k..].chars().next() {
        Some(q @ ('"' | '\'')) => {
            let close = expr[k + 1..]
                .find(q)
                .ok_or_else(|| (k, "unterminated string".to_string()))?;
            (
                Token {
                    offset: k,
                    text: expr[k + 1..k + 1 + close].to_string(),
                    quoted: true,
                },
                k + close + 2,
            )
        }
        _ => {
            let end = k + expr[k..]
                .find(char::is_whitespace)
                .unwrap_or(expr.len() - k);
            (
                Token {
                    offset: k,
                    text: expr[k..end].to_string(),
                    quoted: false,
                },
                end,
            )
        }
    };
    let rest = skip(end);
    if rest < expr.len() {
        return Err((
            rest,
            format!("unexpected {:?} after the limit", &expr[rest..]),
        ));
    }
    Ok((figure, op, value))
}

/// Line and column (1-based, columns in characters) of byte `offset` of `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut offset = offset;
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_character_boundaries() {
        let (f, op, v) = split_expression(" connect.p95 <= \"100ms\" ").expect("valid");
        assert_eq!((f.offset, f.text.as_str()), (1, "connect.p95"));
        assert_eq!(op, Op::Le);
        assert_eq!((v.offset, v.text.as_str(), v.quoted), (16, "100ms", true));
        for text in [
            "connect.p95 é 1s",
            "é < 1s",
            "connect.p95 < 1s 😀",
            "connect.p95 < '😀",
            "connect.p95 <😀",
            "a\u{a0}< 1",
        ] {
            for end in (0..=text.len()).filter(|&n| text.is_char_boundary(n)) {
                let t = &text[..end];
                if let Err((off, _)) = split_expression(t) {
                    assert!(t.is_char_boundary(off), "{t:?}: {off}");
                }
                for off in 0..=t.len() + 1 {
                    let _ = line_col(t, off);
                }
            }
        }
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 1), (1, 1));
    }
}
