//! Durations and numbers as people write them: [`parse_duration`] (`100ms`, `1.5s`, `250us`)
//! and [`format_duration`] / [`format_number`] (three significant digits, trailing zeros
//! removed). Used by the filters' time bounds, the rules of `pcapstat check` and the reports;
//! `pcapstat::figures` re-exports them.

/// A real number with up to 4 decimals, trailing zeros removed (`0.0123`, `2.5`, `3`); tiny
/// non-zero values in scientific notation (`1.2e-5`).
pub fn format_number(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.0001 {
        return format!("{x:.1e}");
    }
    trim_zeros(format!("{x:.4}"))
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A byte count for people: `512 B`, `12.3 kB`, `4.5 MB`, `1.2 GB` (decimal units).
pub fn format_bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
        10_000_000..=9_999_999_999 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

/// A duration for people, three significant digits: `12.3ms`, `1.5s`, `250µs`, `800ns`.
pub fn format_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    if a < 1_000 {
        return format!("{sign}{a}ns");
    }
    let units = [(1e3, "µs"), (1e6, "ms"), (1e9, "s")];
    let mut i = match a {
        0..=999_999 => 0,
        1_000_000..=999_999_999 => 1,
        _ => 2,
    };
    loop {
        let v = a as f64 / units[i].0;
        let s = if v >= 99.95 {
            format!("{v:.0}")
        } else if v >= 9.995 {
            format!("{v:.1}")
        } else {
            format!("{v:.2}")
        };
        // 999.7µs rounds to "1000": say 1ms instead.
        if i < 2 && s.parse::<f64>().is_ok_and(|r| r >= 1000.0) {
            i += 1;
            continue;
        }
        return format!("{sign}{}{}", trim_zeros(s), units[i].1);
    }
}

/// A duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (examples: \"100ms\", \"1.5s\", \"250us\")")]
#[non_exhaustive]
pub struct ParseDurationError {
    /// The text given.
    pub input: String,
    /// Why it is not a duration.
    pub reason: &'static str,
}

/// Parses a duration: a decimal number and a unit, `ns`, `us` (or `µs`), `ms`, `s`, `m` or
/// `h`, optionally signed and with spaces between (`100ms`, `1.5s`, `250 us`, `-2ms`). Exact:
/// `1.5s` is 1 500 000 000 ns; digits below a nanosecond are dropped.
///
/// # Errors
/// [`ParseDurationError`] without a unit, with an unknown unit, or out of range (±292 years).
pub fn parse_duration(input: &str) -> Result<i64, ParseDurationError> {
    let err = |reason| ParseDurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = (&s[..end], s[end..].trim());
    if number.is_empty() || number == "." {
        return Err(err("no number"));
    }
    let mult: i64 = match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(err("no unit")),
        _ => return Err(err("unknown unit")),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') {
        return Err(err("two decimal points"));
    }
    let overflow = || err("out of range");
    let mut ns: i64 = if int.is_empty() {
        0
    } else {
        int.parse::<i64>()
            .map_err(|_| overflow())?
            .checked_mul(mult)
            .ok_or_else(overflow)?
    };
    // Fraction: digit by digit, exact down to the nanosecond.
    let mut scale = mult;
    for d in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        ns = ns
            .checked_add(i64::from(d - b'0') * scale)
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -ns } else { ns })
}
