//! Sources by name: the `[sources]` table (arXiv categories, bioRxiv and medRxiv subject
//! collections), when each is fetched, and what its fetches did.
//!
//! arXiv announces at 20:00 US Eastern, Sunday to Thursday, and on no other day: its listing is
//! fetched once, shortly after each announcement, and never on a quiet day. A daemon that
//! missed more than one announcement catches up through OAI-PMH from the last day it fetched,
//! one archive set at a time, narrowed to the categories asked for. bioRxiv and medRxiv post
//! every day: their API is asked every `preprint_every_hours` for the days since the last
//! fetch. A failed fetch is tried again after a pause that doubles, up to six hours.
//!
//! The decisions here are pure (the clock is the caller's); the daemon's scheduler runs them
//! and keeps each source's [`SourceState`] in `<data-dir>/schedule.json`, which
//! `paperscout sources` reads.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize};

use crate::settings::defaults;

/// How long after an announcement its listing is fetched: arXiv's listings take a few minutes
/// to appear everywhere.
pub const SETTLE_SECONDS: i64 = 10 * 60;

/// The longest pause before a failed fetch is tried again.
pub const LONGEST_RETRY_SECONDS: u64 = 6 * 3600;

/// The `[sources]` table.
///
/// ```toml
/// [sources]
/// arxiv = ["cs.CL", "cs.LG", "stat.ML"]    # categories, or whole archives ("cs")
/// biorxiv = ["neuroscience"]               # subject collections, or "all"
/// medrxiv = "all"
/// ```
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    /// arXiv categories (`cs.CL`) or archives (`cs`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub arxiv: Vec<String>,
    /// bioRxiv subject collections (`neuroscience`, `cell biology`), or `all`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub biorxiv: Vec<String>,
    /// medRxiv subject collections, or `all`.
    #[serde(default, deserialize_with = "one_or_many")]
    pub medrxiv: Vec<String>,
    /// Where arXiv's listings are fetched: the categories are joined with `+` after it.
    pub arxiv_rss: Option<String>,
    /// arXiv's OAI-PMH endpoint, for catching up.
    pub arxiv_oai: Option<String>,
    /// bioRxiv's and medRxiv's API.
    pub biorxiv_api: Option<String>,
    /// Hours between fetches of bioRxiv and medRxiv.
    pub preprint_every_hours: Option<u64>,
    /// Seconds before a failed fetch is tried again (doubling after each failure, up to six
    /// hours).
    pub retry_seconds: Option<u64>,
}

/// A list, or one string standing for a list of it (`medrxiv = "all"`).
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl SourcesConfig {
    /// The subject collections of a preprint server (`biorxiv`, `medrxiv`).
    pub fn collections(&self, server: &str) -> &[String] {
        match server {
            "biorxiv" => &self.biorxiv,
            "medrxiv" => &self.medrxiv,
            _ => &[],
        }
    }

    /// The list a source's entries live in, to change (`sources add` and `remove`).
    pub fn list_mut(&mut self, source: Source) -> &mut Vec<String> {
        match source {
            Source::Arxiv => &mut self.arxiv,
            Source::Biorxiv => &mut self.biorxiv,
            Source::Medrxiv => &mut self.medrxiv,
        }
    }

    fn retry_seconds(&self) -> u64 {
        self.retry_seconds
            .unwrap_or(defaults::SOURCE_RETRY_SECONDS)
            .max(1)
    }

    fn preprint_every_seconds(&self) -> i64 {
        let hours = self
            .preprint_every_hours
            .unwrap_or(defaults::PREPRINT_EVERY_HOURS)
            .max(1);
        i64::try_from(hours * 3600).unwrap_or(i64::MAX)
    }
}

/// The sources paperscout fetches by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// arXiv's daily listings.
    Arxiv,
    /// bioRxiv's API.
    Biorxiv,
    /// medRxiv's API.
    Medrxiv,
}

impl Source {
    /// Every source, in the order `paperscout sources` lists them.
    pub const ALL: [Self; 3] = [Self::Arxiv, Self::Biorxiv, Self::Medrxiv];

    /// Its name in the config file and in `schedule.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arxiv => "arxiv",
            Self::Biorxiv => "biorxiv",
            Self::Medrxiv => "medrxiv",
        }
    }
}

/// What fetching a source did so far; kept between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SourceState {
    /// When it was last tried (Unix seconds).
    pub last_attempt: Option<i64>,
    /// When it last succeeded.
    pub last_success: Option<i64>,
    /// Papers fetched in all.
    pub fetched: u64,
    /// Papers the last successful fetch brought.
    pub last_count: usize,
    /// Failures in a row.
    pub failures: u32,
    /// Why the last attempt failed, while it is the latest word.
    pub last_error: Option<String>,
    /// Not before this time after a failure.
    pub retry_at: Option<i64>,
}

impl SourceState {
    /// Notes a fetch's outcome at `now` (Unix seconds): the papers it brought, or why it
    /// failed; a failure sets the next try after a pause that doubles with each failure in a
    /// row.
    pub fn record(&mut self, outcome: Result<usize, String>, now: i64, config: &SourcesConfig) {
        self.last_attempt = Some(now);
        match outcome {
            Ok(count) => {
                self.last_success = Some(now);
                self.fetched += count as u64;
                self.last_count = count;
                self.failures = 0;
                self.last_error = None;
                self.retry_at = None;
            }
            Err(why) => {
                self.failures += 1;
                let pause = config
                    .retry_seconds()
                    .saturating_mul(1 << (self.failures - 1).min(16))
                    .min(LONGEST_RETRY_SECONDS);
                self.retry_at = Some(now.saturating_add(i64::try_from(pause).unwrap_or(0)));
                self.last_error = Some(why);
            }
        }
    }

    fn waiting(&self, now: i64) -> bool {
        self.retry_at.is_some_and(|at| now < at)
    }
}

/// A fetch that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetch {
    /// The latest announcement's listing of the categories.
    Listing {
        /// Its URL.
        url: String,
    },
    /// Every record since `from`, through OAI-PMH: one URL per archive set, narrowed to
    /// `categories`.
    CatchUp {
        /// The first page of each set.
        urls: Vec<String>,
        /// What to keep of them.
        categories: Vec<String>,
    },
    /// A preprint server's posts from `from` to `to`, of each collection (none: all).
    Preprints {
        /// `biorxiv` or `medrxiv`.
        server: &'static str,
        /// The API.
        api: String,
        /// The first day.
        from: NaiveDate,
        /// The last day.
        to: NaiveDate,
        /// The subject collections, or one `None` for every one.
        collections: Vec<Option<String>>,
    },
}

/// The instant arXiv announced on a US-Eastern day, if it announces that day.
fn announcement_on(day: NaiveDate) -> Option<DateTime<Utc>> {
    if matches!(day.weekday(), Weekday::Fri | Weekday::Sat) {
        return None;
    }
    let eight_pm = NaiveTime::from_hms_opt(20, 0, 0)?;
    chrono_tz::America::New_York
        .from_local_datetime(&day.and_time(eight_pm))
        .earliest()
        .map(|at| at.with_timezone(&Utc))
}

/// arXiv's latest announcement at or before `at` (its holidays are not known here).
pub fn latest_announcement(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let eastern = at.with_timezone(&chrono_tz::America::New_York).date_naive();
    (0..10)
        .filter_map(|back| eastern.checked_sub_days(Days::new(back)))
        .filter_map(announcement_on)
        .find(|announced| *announced <= at)
}

/// arXiv's next announcement after `at`.
pub fn next_announcement(at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let eastern = at.with_timezone(&chrono_tz::America::New_York).date_naive();
    (0..10)
        .filter_map(|ahead| eastern.checked_add_days(Days::new(ahead)))
        .filter_map(announcement_on)
        .find(|announced| *announced > at)
}

fn instant(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// The OAI-PMH set of a category's archive: `cs` for `cs.CL`, `physics:hep-th` for the
/// physics archives.
pub fn oai_set(category: &str) -> String {
    const PHYSICS: [&str; 13] = [
        "astro-ph", "cond-mat", "gr-qc", "hep-ex", "hep-lat", "hep-ph", "hep-th", "math-ph",
        "nlin", "nucl-ex", "nucl-th", "physics", "quant-ph",
    ];
    let archive = category.split('.').next().unwrap_or(category);
    if PHYSICS.contains(&archive) {
        format!("physics:{archive}")
    } else {
        archive.to_owned()
    }
}

/// Whether arXiv is due at `now`, and how: its first listing, the listing of an announcement
/// not fetched yet, or a catch-up when more than one was missed.
pub fn arxiv_due(config: &SourcesConfig, state: &SourceState, now: DateTime<Utc>) -> Option<Fetch> {
    if config.arxiv.is_empty() || state.waiting(now.timestamp()) {
        return None;
    }
    let settled = now - chrono::Duration::seconds(SETTLE_SECONDS);
    let latest = latest_announcement(settled)?;
    let listing = || Fetch::Listing {
        url: format!(
            "{}{}",
            config.arxiv_rss.as_deref().unwrap_or(defaults::ARXIV_RSS),
            config.arxiv.join("+")
        ),
    };
    let Some(last) = state.last_success.map(instant) else {
        return Some(listing());
    };
    if last >= latest + chrono::Duration::seconds(SETTLE_SECONDS) {
        return None;
    }
    let before = latest_announcement(latest - chrono::Duration::seconds(1))?;
    if last >= before + chrono::Duration::seconds(SETTLE_SECONDS) {
        return Some(listing());
    }
    // More than one announcement missed: everything since the day before the last fetch.
    let from = last.date_naive().pred_opt().unwrap_or(last.date_naive());
    let base = config.arxiv_oai.as_deref().unwrap_or(defaults::ARXIV_OAI);
    let mut sets: Vec<String> = config.arxiv.iter().map(|c| oai_set(c)).collect();
    sets.sort();
    sets.dedup();
    Some(Fetch::CatchUp {
        urls: sets
            .iter()
            .map(|set| {
                format!(
                    "{base}?verb=ListRecords&metadataPrefix=arXiv&set={set}&from={}",
                    from.format("%Y-%m-%d")
                )
            })
            .collect(),
        categories: config.arxiv.clone(),
    })
}

/// Whether a preprint server is due at `now`: every `preprint_every_hours`, for the days since
/// the day before its last fetch (yesterday and today the first time).
pub fn preprints_due(
    config: &SourcesConfig,
    source: Source,
    state: &SourceState,
    now: DateTime<Utc>,
) -> Option<Fetch> {
    let server = match source {
        Source::Arxiv => return None,
        Source::Biorxiv => "biorxiv",
        Source::Medrxiv => "medrxiv",
    };
    let wanted = config.collections(server);
    if wanted.is_empty() || state.waiting(now.timestamp()) {
        return None;
    }
    if let Some(last) = state.last_success
        && now.timestamp() < last.saturating_add(config.preprint_every_seconds())
    {
        return None;
    }
    let today = now.date_naive();
    let since = state
        .last_success
        .map_or(today, |last| instant(last).date_naive());
    let collections = if wanted.iter().any(|c| c.eq_ignore_ascii_case("all")) {
        vec![None]
    } else {
        wanted.iter().cloned().map(Some).collect()
    };
    Some(Fetch::Preprints {
        server,
        api: config
            .biorxiv_api
            .clone()
            .unwrap_or_else(|| defaults::BIORXIV_API.to_owned()),
        from: since.pred_opt().unwrap_or(since),
        to: today,
        collections,
    })
}

/// When a source is fetched next, as far as the clock decides: after a failure its retry; for
/// arXiv the next announcement's listing; for the preprint servers the next interval.
pub fn next_fetch(
    config: &SourcesConfig,
    source: Source,
    state: &SourceState,
    now: DateTime<Utc>,
) -> Option<i64> {
    if let Some(at) = state.retry_at.filter(|at| *at > now.timestamp()) {
        return Some(at);
    }
    match source {
        Source::Arxiv => {
            if config.arxiv.is_empty() {
                return None;
            }
            if arxiv_due(config, state, now).is_some() {
                return Some(now.timestamp());
            }
            let settled = now - chrono::Duration::seconds(SETTLE_SECONDS);
            next_announcement(settled).map(|at| at.timestamp() + SETTLE_SECONDS)
        }
        _ => {
            let server = source.name();
            if config.collections(server).is_empty() {
                return None;
            }
            Some(state.last_success.map_or(now.timestamp(), |last| {
                last.saturating_add(config.preprint_every_seconds())
                    .max(now.timestamp())
            }))
        }
    }
}

/// One source as `paperscout sources` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    /// `arxiv`, `biorxiv` or `medrxiv`.
    pub source: &'static str,
    /// What is fetched of it.
    pub what: Vec<String>,
    /// What its fetches did.
    #[serde(flatten)]
    pub state: SourceState,
    /// When it is fetched next (Unix seconds), if it is fetched at all.
    pub next_fetch: Option<i64>,
}

/// Every configured source with what its fetches did.
pub fn rows(
    config: &SourcesConfig,
    states: &BTreeMap<String, SourceState>,
    now: DateTime<Utc>,
) -> Vec<SourceRow> {
    Source::ALL
        .iter()
        .filter_map(|source| {
            let what = match source {
                Source::Arxiv => config.arxiv.clone(),
                other => config.collections(other.name()).to_vec(),
            };
            if what.is_empty() {
                return None;
            }
            let state = states.get(source.name()).cloned().unwrap_or_default();
            Some(SourceRow {
                source: source.name(),
                next_fetch: next_fetch(config, *source, &state, now),
                what,
                state,
            })
        })
        .collect()
}

/// The sources' states as the daemon last saved them in `<data-dir>/schedule.json`; none
/// before its first fetch.
pub fn saved_states(data_dir: &Path) -> BTreeMap<String, SourceState> {
    #[derive(Deserialize, Default)]
    struct Saved {
        #[serde(default)]
        sources: BTreeMap<String, SourceState>,
    }
    std::fs::read_to_string(data_dir.join("schedule.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Saved>(&text).ok())
        .unwrap_or_default()
        .sources
}

/// Checks an entry before it is added: an arXiv category (`cs.CL`) or archive (`cs`), or a
/// subject collection (letters, spaces, `_` and `-`), or `all` for a preprint server.
pub fn check_entry(source: Source, entry: &str) -> crate::Result<String> {
    let entry = entry.trim();
    let fits = match source {
        Source::Arxiv => {
            !entry.is_empty()
                && entry.len() <= 32
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
                && entry.starts_with(|c: char| c.is_ascii_alphabetic())
        }
        _ => {
            !entry.is_empty()
                && entry.len() <= 64
                && entry
                    .chars()
                    .all(|c| c.is_ascii_alphabetic() || matches!(c, ' ' | '_' | '-'))
        }
    };
    if fits {
        Ok(entry.to_owned())
    } else {
        Err(crate::AppError::BadSetting(match source {
            Source::Arxiv => format!(
                "{entry:?} is not an arXiv category or archive: give one such as cs.CL or cs"
            ),
            _ => format!(
                "{entry:?} is not a subject collection: give one such as neuroscience, or all"
            ),
        }))
    }
}

/// Adds an entry to a source's list in the config file, or removes one, keeping the rest of
/// the file as it was (comments included). Returns whether the file changed (adding what is
/// there already changes nothing). The file is made if it does not exist, checked to be a
/// valid config before it is written, and written in one rename.
pub fn edit_config(path: &Path, source: Source, entry: &str, add: bool) -> crate::Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            return Err(crate::AppError::Config(format!(
                "could not read {}: {err}",
                path.display()
            )));
        }
    };
    let mut document: toml_edit::DocumentMut = text.parse().map_err(|err| {
        crate::AppError::Config(format!("{} is not valid TOML: {err}", path.display()))
    })?;
    let table = document
        .entry("sources")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()))
        .as_table_mut()
        .ok_or_else(|| {
            crate::AppError::Config(format!("{}: `sources` is not a table", path.display()))
        })?;
    let mut list: Vec<String> = match table.get(source.name()) {
        None => Vec::new(),
        Some(item) => match (item.as_str(), item.as_array()) {
            (Some(one), _) => vec![one.to_owned()],
            (None, Some(many)) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            (None, None) => {
                return Err(crate::AppError::Config(format!(
                    "{}: [sources] {} is not a list",
                    path.display(),
                    source.name()
                )));
            }
        },
    };
    let entry = check_entry(source, entry)?;
    let held = list.iter().position(|e| e.eq_ignore_ascii_case(&entry));
    match (add, held) {
        (true, Some(_)) => return Ok(false),
        (true, None) => list.push(entry),
        (false, Some(at)) => {
            list.remove(at);
        }
        (false, None) => {
            return Err(crate::AppError::BadSetting(format!(
                "{entry:?} is not among the {} sources: `paperscout sources` lists them",
                source.name()
            )));
        }
    }
    if list.is_empty() {
        table.remove(source.name());
    } else {
        let array: toml_edit::Array = list.iter().map(String::as_str).collect();
        table.insert(source.name(), toml_edit::value(array));
    }
    let text = document.to_string();
    toml::from_str::<crate::settings::FileConfig>(&text).map_err(|err| {
        crate::AppError::Config(format!(
            "{} would not be a valid config after the change ({err}); fix it by hand",
            path.display()
        ))
    })?;
    if let Some(folder) = path.parent() {
        fs_err::create_dir_all(folder)?;
    }
    crate::files::write_atomically(path, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::utc;

    fn config() -> SourcesConfig {
        toml::from_str(
            r#"arxiv = ["cs.CL", "cs.LG", "hep-th"]
               biorxiv = ["neuroscience"]
               medrxiv = "all"
               arxiv_rss = "http://127.0.0.1:9/rss/"
               arxiv_oai = "http://127.0.0.1:9/oai""#,
        )
        .expect("a [sources] table")
    }

    #[test]
    fn announcements_are_sunday_to_thursday_at_eight_in_new_york() {
        // 2026-03-06 is a Friday: the latest announcement is Thursday's, 20:00 EST = 01:00 UTC.
        assert_eq!(
            latest_announcement(utc("2026-03-07T12:00:00Z")),
            Some(utc("2026-03-06T01:00:00Z"))
        );
        // Saturday's next is Sunday's, in daylight-saving time from 2026-03-08 (00:00 UTC).
        assert_eq!(
            next_announcement(utc("2026-03-07T12:00:00Z")),
            Some(utc("2026-03-09T00:00:00Z"))
        );
    }

    #[test]
    fn arxiv_is_fetched_once_after_each_announcement_and_caught_up_after_a_gap() {
        let config = config();
        let mut state = SourceState::default();
        let wednesday = utc("2026-03-05T02:00:00Z");
        let Some(Fetch::Listing { url }) = arxiv_due(&config, &state, wednesday) else {
            panic!("a first listing");
        };
        assert_eq!(url, "http://127.0.0.1:9/rss/cs.CL+cs.LG+hep-th");
        state.record(Ok(12), wednesday.timestamp(), &config);
        assert_eq!(arxiv_due(&config, &state, wednesday), None);
        assert_eq!(
            arxiv_due(&config, &state, utc("2026-03-05T20:00:00Z")),
            None
        );
        // Thursday's announcement: the listing, once.
        let thursday = utc("2026-03-06T01:30:00Z");
        assert!(matches!(
            arxiv_due(&config, &state, thursday),
            Some(Fetch::Listing { .. })
        ));
        state.record(Ok(3), thursday.timestamp(), &config);
        // Friday and Saturday are quiet.
        for quiet in ["2026-03-07T01:30:00Z", "2026-03-08T01:30:00Z"] {
            assert_eq!(arxiv_due(&config, &state, utc(quiet)), None, "{quiet}");
        }
        // Back on Wednesday after missing Sunday to Tuesday: OAI-PMH from the day before.
        let Some(Fetch::CatchUp { urls, categories }) =
            arxiv_due(&config, &state, utc("2026-03-12T01:00:00Z"))
        else {
            panic!("a catch-up");
        };
        assert_eq!(
            urls,
            [
                "http://127.0.0.1:9/oai?verb=ListRecords&metadataPrefix=arXiv&set=cs&from=2026-03-05",
                "http://127.0.0.1:9/oai?verb=ListRecords&metadataPrefix=arXiv&set=physics:hep-th&from=2026-03-05",
            ]
        );
        assert_eq!(categories, config.arxiv);
    }

    #[test]
    fn a_failed_fetch_waits_a_doubling_pause_and_says_why() {
        let config = SourcesConfig {
            retry_seconds: Some(60),
            ..config()
        };
        let mut state = SourceState::default();
        let now = utc("2026-03-05T02:00:00Z");
        state.record(Err("HTTP 503".into()), now.timestamp(), &config);
        assert_eq!(state.retry_at, Some(now.timestamp() + 60));
        assert_eq!(arxiv_due(&config, &state, now), None);
        assert_eq!(
            next_fetch(&config, Source::Arxiv, &state, now),
            Some(now.timestamp() + 60)
        );
        state.record(Err("HTTP 503".into()), now.timestamp() + 60, &config);
        assert_eq!(state.retry_at, Some(now.timestamp() + 180));
        assert_eq!(state.last_error.as_deref(), Some("HTTP 503"));
        state.record(Ok(4), now.timestamp() + 200, &config);
        assert_eq!((state.failures, state.last_error.clone()), (0, None));
    }

    #[test]
    fn preprint_servers_are_asked_for_the_days_since_their_last_fetch() {
        let config = config();
        let mut state = SourceState::default();
        let now = utc("2026-03-05T08:00:00Z");
        let Some(Fetch::Preprints {
            server,
            from,
            to,
            collections,
            ..
        }) = preprints_due(&config, Source::Biorxiv, &state, now)
        else {
            panic!("due");
        };
        assert_eq!(server, "biorxiv");
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-03-04".into(), "2026-03-05".into())
        );
        assert_eq!(collections, [Some("neuroscience".to_owned())]);
        state.record(Ok(7), now.timestamp(), &config);
        assert_eq!(preprints_due(&config, Source::Biorxiv, &state, now), None);
        let later = utc("2026-03-07T09:00:00Z");
        let Some(Fetch::Preprints { from, .. }) =
            preprints_due(&config, Source::Biorxiv, &state, later)
        else {
            panic!("due again");
        };
        assert_eq!(from.to_string(), "2026-03-04");
        let medrxiv = preprints_due(&config, Source::Medrxiv, &SourceState::default(), now);
        assert!(
            matches!(medrxiv, Some(Fetch::Preprints { collections, .. }) if collections == [None])
        );
        let rows = rows(&config, &BTreeMap::new(), now);
        assert_eq!(rows.len(), 3);
        assert!(check_entry(Source::Arxiv, "cs.CL").is_ok());
        assert!(check_entry(Source::Arxiv, "cs CL; rm").is_err());
        assert!(check_entry(Source::Biorxiv, "cell biology").is_ok());
    }

    #[test]
    fn the_config_file_is_edited_in_place_keeping_its_comments() {
        let folder = tempfile::tempdir().expect("a temp dir");
        let path = folder.path().join("config.toml");
        std::fs::write(
            &path,
            "# my settings\n[schedule]\ndigest_at = \"07:00\"  # morning\n\n[sources]\nmedrxiv = \"all\"\n",
        )
        .expect("written");
        assert!(edit_config(&path, Source::Arxiv, "cs.CL", true).expect("added"));
        assert!(edit_config(&path, Source::Arxiv, "cs.LG", true).expect("added"));
        assert!(!edit_config(&path, Source::Arxiv, "CS.cl", true).expect("there already"));
        assert!(edit_config(&path, Source::Medrxiv, "all", false).expect("removed"));
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("# my settings") && text.contains("# morning"),
            "{text}"
        );
        let file: crate::settings::FileConfig = toml::from_str(&text).expect("valid");
        assert_eq!(file.sources.arxiv, ["cs.CL", "cs.LG"]);
        assert!(file.sources.medrxiv.is_empty());
        let err = edit_config(&path, Source::Biorxiv, "genomics", false).unwrap_err();
        assert!(err.to_string().contains("paperscout sources"), "{err}");
        assert!(edit_config(&path, Source::Arxiv, "cs;rm -rf", true).is_err());
        // A file that does not exist yet is made.
        let fresh = folder.path().join("new/config.toml");
        assert!(edit_config(&fresh, Source::Biorxiv, "neuroscience", true).expect("made"));
    }
}
