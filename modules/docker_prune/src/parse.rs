//! Parsers for values the daemon parses itself, so that a bad value is refused before
//! anything is pruned: Go durations, the daemon's `until` timestamps, human sizes.

/// Nanoseconds of a Go duration ("1h30m", "10s", "1.5h", "300ms", "-2h", "0").
pub fn go_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

/// Unix time in nanoseconds.
pub type UnixNanos = i128;

/// The cut-off an `until` filter value means, as the daemon computes it
/// (`GetTimestamp`): a Go duration before `now`, an RFC 3339-like date/time (without a
/// zone: in the daemon's zone, `local_offset` seconds east of UTC), or a Unix timestamp.
pub fn until_cutoff(value: &str, now: UnixNanos, local_offset: i64) -> Result<UnixNanos, String> {
    if value != "0" {
        if let Some(d) = go_duration(value) {
            return Ok(now - d);
        }
    }
    match parse_datetime(value, local_offset) {
        Some(t) => Ok(t),
        None if value.contains('-') => Err(format!(
            "{value:?} is not a valid timestamp (use e.g. 2024-01-31, 2024-01-31T10:00:00Z or 2024-01-31T10:00:00+02:00)"
        )),
        None => unix_timestamp(value).ok_or_else(|| {
            format!("failed to parse value as time or duration: {value:?} (use e.g. 24h, 2024-01-31T10:00:00Z or a Unix timestamp)")
        }),
    }
}

fn unix_timestamp(value: &str) -> Option<UnixNanos> {
    let (secs, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs: i64 = secs.parse().ok()?;
    let nanos: i64 = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<9}").parse().ok()?
        }
        Some(_) => return None,
    };
    Some(secs as i128 * 1_000_000_000 + nanos as i128)
}

/// The layouts GetTimestamp accepts: `YYYY-MM-DD`, optionally `THH`, `THH:MM`,
/// `THH:MM:SS[.frac]` (fraction only with seconds), optionally a zone `Z` or `±HH:MM`.
/// Without a zone the time is local to the daemon.
fn parse_datetime(value: &str, local_offset: i64) -> Option<UnixNanos> {
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let (body, offset) = if zoned {
        if let Some(body) = value.strip_suffix('Z').or_else(|| value.strip_suffix('z')) {
            (body, 0)
        } else {
            let split = value.len().checked_sub(6)?;
            let (body, zone) = value.split_at(split);
            let sign = match zone.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = zone[1..].split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
            (body, sign * (h * 3600 + m * 60))
        }
    } else {
        (value, local_offset)
    };
    let (date, time) = match body.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (body, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, mo, d] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, mo, d): (i64, u32, u32) = (y.parse().ok()?, mo.parse().ok()?, d.parse().ok()?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let mut seconds = days_from_civil(y, mo, d) * 86400;
    let mut nanos: i64 = 0;
    if let Some(time) = time {
        let (hms, frac) = match time.split_once('.') {
            Some((hms, frac)) => (hms, Some(frac)),
            None => (time, None),
        };
        let fields: Vec<&str> = hms.split(':').collect();
        if fields.iter().any(|f| f.len() != 2) || fields.len() > 3 {
            return None;
        }
        if frac.is_some() && fields.len() != 3 {
            return None;
        }
        let nums: Vec<i64> = fields
            .iter()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let limits = [23, 59, 59];
        if nums.iter().zip(limits).any(|(n, max)| *n > max) {
            return None;
        }
        seconds += nums.first().copied().unwrap_or(0) * 3600
            + nums.get(1).copied().unwrap_or(0) * 60
            + nums.get(2).copied().unwrap_or(0);
        if let Some(frac) = frac {
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nanos = format!("{frac:0<9}").parse().ok()?;
        }
    } else if value.contains('.') {
        return None;
    }
    Some((seconds - offset) as i128 * 1_000_000_000 + nanos as i128)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// An RFC 3339 timestamp as the daemon prints it ("2024-01-31T10:00:00.123456789Z",
/// "...+02:00"), to Unix nanoseconds.
pub fn rfc3339(value: &str) -> Option<UnixNanos> {
    if !value.contains('T') {
        return None;
    }
    parse_datetime(value, 0)
}

/// The zone offset (seconds east of UTC) of an RFC 3339 timestamp.
pub fn rfc3339_offset(value: &str) -> Option<i64> {
    if value.ends_with(['Z', 'z']) {
        return Some(0);
    }
    let zone = value.get(value.len().checked_sub(6)?..)?;
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = zone[1..].split_once(':')?;
    Some(sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60))
}

/// Bytes of a human size: plain bytes ("1048576") or a number with a unit, binary like
/// the reference module and the docker CLI: K/KB/KiB = 1024, M/MB/MiB = 1024², ... up
/// to E (any case, decimals allowed: "1.5GB").
pub fn human_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let bad = || {
        format!(
            "{text:?} is not a size; write bytes (1048576) or a number with a unit: B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, P/PB/PiB (all powers of 1024)"
        )
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let power = match unit {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        "P" => 5,
        "E" => 6,
        _ => return Err(bad()),
    };
    let bytes = value * 1024f64.powi(power);
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("24h"), Some(24 * 3600 * S));
        assert_eq!(go_duration("1h30m"), Some(5400 * S));
        assert_eq!(go_duration("1.5h"), Some(5400 * S));
        assert_eq!(go_duration("300ms"), Some(300_000_000));
        assert_eq!(go_duration("-2s"), Some(-2 * S));
        assert_eq!(go_duration("0"), Some(0));
        assert_eq!(go_duration("10"), None);
        assert_eq!(go_duration("1d"), None);
        assert_eq!(go_duration(""), None);
        assert_eq!(go_duration("h"), None);
    }

    #[test]
    fn until_values() {
        let now = 1_700_000_000 * S;
        assert_eq!(until_cutoff("10m", now, 0), Ok(now - 600 * S));
        assert_eq!(until_cutoff("1700000000", now, 0), Ok(1_700_000_000 * S));
        assert_eq!(
            until_cutoff("1700000000.5", now, 0),
            Ok(1_700_000_000 * S + S / 2)
        );
        assert_eq!(until_cutoff("0", now, 0), Ok(0));
        assert_eq!(until_cutoff("2023-11-14", now, 0), Ok(1_699_920_000 * S));
        assert_eq!(
            until_cutoff("2023-11-14", now, 3600),
            Ok((1_699_920_000 - 3600) * S)
        );
        assert_eq!(until_cutoff("2023-11-14T22:13:20Z", now, 3600), Ok(now));
        assert_eq!(until_cutoff("2023-11-14T23:13:20+01:00", now, 0), Ok(now));
        assert_eq!(until_cutoff("2023-11-14T22:13", now, 0), Ok(now - 20 * S));
        assert_eq!(until_cutoff("2023-11-14T22", now, 0), Ok(now - 800 * S));
        assert_eq!(
            until_cutoff("2023-11-14T22:13:20.25Z", now, 0),
            Ok(now + S / 4)
        );
        assert!(until_cutoff("2023-13-01", now, 0)
            .unwrap_err()
            .contains("not a valid timestamp"));
        assert!(until_cutoff("yesterday", now, 0)
            .unwrap_err()
            .contains("failed to parse value as time or duration"));
        assert!(until_cutoff("", now, 0).is_err());
    }

    #[test]
    fn daemon_timestamps() {
        assert_eq!(rfc3339("1970-01-01T00:00:01.5Z"), Some(S + S / 2));
        assert_eq!(rfc3339("1970-01-01T01:00:01+01:00"), Some(S));
        assert_eq!(rfc3339_offset("2026-12-04T21:09:56.1+01:00"), Some(3600));
        assert_eq!(rfc3339_offset("2026-12-04T20:09:56Z"), Some(0));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes("0"), Ok(0));
        assert_eq!(human_bytes("1048576"), Ok(1 << 20));
        assert_eq!(human_bytes("1GB"), Ok(1 << 30));
        assert_eq!(human_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(human_bytes("1.5k"), Ok(1536));
        assert_eq!(human_bytes(" 2 G "), Ok(2 << 30));
        assert_eq!(human_bytes("10B"), Ok(10));
        assert!(human_bytes("lots").unwrap_err().contains("is not a size"));
        assert!(human_bytes("1XB").is_err());
        assert!(human_bytes("-1").is_err());
    }
}
