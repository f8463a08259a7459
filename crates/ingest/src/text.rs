//! Small text rules every source needs: whitespace, dates, author lists.

use chrono::{DateTime, NaiveDate};

/// Collapses every run of whitespace to one space and trims the ends: XML sources wrap titles
/// and abstracts over indented lines, and the embedded text should not depend on that.
pub fn normalise_space(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Checks a `YYYY-MM-DD` day.
pub fn iso_day(text: &str) -> Result<String, String> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|day| day.format("%Y-%m-%d").to_string())
        .map_err(|_| "bad date (expected YYYY-MM-DD)".to_owned())
}

/// The day of an RFC 3339 time (`2025-03-14T17:59:59Z`), in the time's own offset.
pub fn day_of_rfc3339(text: &str) -> Result<String, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|time| time.date_naive().format("%Y-%m-%d").to_string())
        .map_err(|_| "bad date (expected an RFC 3339 time)".to_owned())
}

/// The day of an RFC 2822 time (`Tue, 18 Mar 2025 00:00:00 -0400`), in the time's own offset.
pub fn day_of_rfc2822(text: &str) -> Result<String, String> {
    DateTime::parse_from_rfc2822(text.trim())
        .map(|time| time.date_naive().format("%Y-%m-%d").to_string())
        .map_err(|_| "bad date (expected an RFC 2822 time)".to_owned())
}

/// Splits an author list written as prose: `A, B and C`, `A, B, and C`, `A and B`.
pub fn split_authors(text: &str) -> Vec<String> {
    let text = normalise_space(text);
    text.split(',')
        .flat_map(|part| part.split(" and "))
        .map(|name| name.trim().trim_start_matches("and ").trim())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_collapsed() {
        assert_eq!(
            normalise_space("  A\n   title\twith  gaps \n"),
            "A title with gaps"
        );
    }

    #[test]
    fn dates_in_every_feed_format() {
        assert_eq!(iso_day("2025-03-18").as_deref(), Ok("2025-03-18"));
        assert!(iso_day("2025-02-30").is_err());
        assert!(iso_day("18/03/2025").is_err());
        assert_eq!(
            day_of_rfc3339("2025-03-14T17:59:59Z").as_deref(),
            Ok("2025-03-14")
        );
        assert_eq!(
            day_of_rfc2822("Tue, 18 Mar 2025 00:00:00 -0400").as_deref(),
            Ok("2025-03-18")
        );
        assert_eq!(
            day_of_rfc2822("Mon, 2 Apr 2007 19:18:42 GMT").as_deref(),
            Ok("2007-04-02")
        );
        assert!(day_of_rfc2822("yesterday").is_err());
    }

    #[test]
    fn author_prose_is_split() {
        assert_eq!(
            split_authors("A. Lovelace, C. Babbage and G. Hopper"),
            ["A. Lovelace", "C. Babbage", "G. Hopper"]
        );
        assert_eq!(split_authors("A, B, and C"), ["A", "B", "C"]);
        assert_eq!(split_authors("Alexander Anderson"), ["Alexander Anderson"]);
    }
}
