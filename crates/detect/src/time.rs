//! Event time as NAB writes it: `YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC, held as microseconds
//! since the Unix epoch. Parsed by hand so the pure core needs no calendar crate.

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

const MICROS_PER_SECOND: i64 = 1_000_000;

/// Parses `YYYY-MM-DD HH:MM:SS` with an optional fraction of up to six digits (a `T` is
/// accepted in place of the space). `None` for anything else.
pub fn parse_nab_time(text: &str) -> Option<Micros> {
    let text = text.trim();
    let (date, time) = text.split_once([' ', 'T'])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = number(date_parts.next()?, 4)?;
    let month: i64 = number(date_parts.next()?, 2)?;
    let day: i64 = number(date_parts.next()?, 2)?;
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour: i64 = number(clock_parts.next()?, 2)?;
    let minute: i64 = number(clock_parts.next()?, 2)?;
    let second: i64 = number(clock_parts.next()?, 2)?;
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let micros = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) => {
            let digits: i64 = f.parse().ok()?;
            digits * 10_i64.pow(6 - u32::try_from(f.len()).ok()?)
        }
        Some(_) => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(
        ((days * 24 + hour) * 60 + minute) * 60 * MICROS_PER_SECOND
            + second * MICROS_PER_SECOND
            + micros,
    )
}

/// `YYYY-MM-DD HH:MM:SS`, the form of NAB's data files (fractions are dropped).
pub fn format_nab_time(t: Micros) -> String {
    let seconds = t.div_euclid(MICROS_PER_SECOND);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        in_day / 3600,
        in_day / 60 % 60,
        in_day % 60
    )
}

fn number(text: &str, width: usize) -> Option<i64> {
    if text.len() == width && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nab_times_round_trip() {
        let t = parse_nab_time("2014-04-10 07:15:00.000000").unwrap();
        assert_eq!(t, parse_nab_time("2014-04-10 07:15:00").unwrap());
        assert_eq!(t, 1_397_114_100 * MICROS_PER_SECOND);
        assert_eq!(format_nab_time(t), "2014-04-10 07:15:00");
        assert_eq!(parse_nab_time("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_nab_time("2016-02-29 23:59:59.5"),
            Some((1_456_790_399) * MICROS_PER_SECOND + 500_000)
        );
        assert_eq!(
            format_nab_time(parse_nab_time("1969-12-31 23:00:00").unwrap()),
            "1969-12-31 23:00:00"
        );
    }

    #[test]
    fn malformed_times_are_refused() {
        for bad in [
            "",
            "2014-04-10",
            "2014-4-10 07:15:00",
            "2015-02-29 00:00:00",
            "2014-04-10 24:00:00",
            "2014-04-10 07:15:00.",
            "2014-04-10 07:15:00.1234567",
            "2014-04-10 07:15:00Z",
        ] {
            assert_eq!(parse_nab_time(bad), None, "{bad}");
        }
    }
}
