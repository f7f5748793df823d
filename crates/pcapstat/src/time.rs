//! Capture timestamps (integer nanoseconds since the Unix epoch) as text: the report's RFC 3339
//! form and HAR's ISO 8601 milliseconds, from one calendar conversion.

/// Nanoseconds since the epoch as RFC 3339 UTC with nanoseconds
/// (`2023-11-14T22:13:20.123456789Z`).
pub fn rfc3339(ts_ns: i64) -> String {
    let secs = ts_ns.div_euclid(1_000_000_000);
    let nanos = ts_ns.rem_euclid(1_000_000_000);
    format!("{}.{nanos:09}Z", date_time(secs))
}

/// Nanoseconds since the epoch as ISO 8601 UTC with milliseconds (`2024-05-01T12:00:00.123Z`).
pub fn iso8601_ms(ts_ns: i64) -> String {
    let ms = ts_ns.div_euclid(1_000_000);
    let secs = ms.div_euclid(1_000);
    let millis = ms.rem_euclid(1_000);
    format!("{}.{millis:03}Z", date_time(secs))
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SS` (UTC).
fn date_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
        // A leap day.
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
