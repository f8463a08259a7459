//! When a user's scheduled digest is due, and how many days it covers: the cadence, hour and
//! time zone the user set (else their `[schedule.users.NAME]` table's, else the `[schedule]`
//! table's), read against the clock and arXiv's announcement calendar.
//!
//! A digest is due once the latest *slot* (a day the cadence allows, at the user's hour, in
//! the user's zone) has passed without a digest recorded on or after its day. So a daemon that
//! was down catches up once, at start, whatever it missed; and a digest covers every day since
//! the one before, so Monday's holds the weekend and a weekly one is the week's best.

use chrono::{
    DateTime, Datelike, Days, Local, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use paperscout_types::{Cadence, DigestTiming};

use crate::error::{AppError, Result};
use crate::settings::ScheduleConfig;

/// Days a catch-up digest covers at most (unless `digest_days` asks for more).
pub const MAX_CATCH_UP_DAYS: u32 = 31;

/// arXiv announces at 20:00 US Eastern, Sunday to Thursday.
const ARXIV_ZONE: Tz = chrono_tz::America::New_York;

/// A time zone: a named IANA zone, or the daemon's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// An IANA zone (`Europe/Berlin`).
    Named(Tz),
    /// The machine's local zone.
    Local,
}

impl Zone {
    /// The zone an IANA name names, or an error saying what to give.
    pub fn parse(name: &str) -> Result<Self> {
        name.trim().parse::<Tz>().map(Self::Named).map_err(|_| {
            AppError::BadSetting(format!(
                "time zone {name:?} is not an IANA name such as Europe/Berlin, America/New_York or UTC"
            ))
        })
    }

    /// The wall-clock time here at an instant.
    pub fn wall_clock(self, at: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Self::Named(tz) => at.with_timezone(&tz).naive_local(),
            Self::Local => at.with_timezone(&Local).naive_local(),
        }
    }

    /// The instant a wall-clock time here names; in a daylight-saving gap, an hour later.
    pub fn instant(self, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
        let resolve = |wall: NaiveDateTime| match self {
            Self::Named(tz) => tz
                .from_local_datetime(&wall)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
            Self::Local => Local
                .from_local_datetime(&wall)
                .earliest()
                .map(|t| t.with_timezone(&Utc)),
        };
        resolve(wall).or_else(|| resolve(wall + chrono::Duration::hours(1)))
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Named(tz) => f.write_str(tz.name()),
            Self::Local => f.write_str("the daemon's local time"),
        }
    }
}

/// A user's digest timing with every default filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often.
    pub cadence: Cadence,
    /// Where the hour is read.
    pub zone: Zone,
    /// The hour.
    pub at: NaiveTime,
    /// Whether a due day with nothing new sends a note.
    pub nothing_note: bool,
}

/// The user's timing: their own settings over their `[schedule.users.NAME]` table over the
/// `[schedule]` table. None when no hour is set anywhere: no scheduled digests.
pub fn timing(user: &str, own: &DigestTiming, config: &ScheduleConfig) -> Result<Option<Timing>> {
    let table = config.users.get(user);
    let at = own
        .digest_at
        .clone()
        .or_else(|| table.and_then(|t| t.digest_at.clone()))
        .or_else(|| config.digest_at.clone());
    let Some(at) = at else {
        return Ok(None);
    };
    let zone = own
        .timezone
        .clone()
        .or_else(|| table.and_then(|t| t.timezone.clone()))
        .or_else(|| config.timezone.clone());
    Ok(Some(Timing {
        cadence: own
            .cadence
            .or_else(|| table.and_then(|t| t.cadence))
            .or(config.cadence)
            .unwrap_or_default(),
        zone: zone.as_deref().map_or(Ok(Zone::Local), Zone::parse)?,
        at: parse_time(&at)?,
        nothing_note: own.nothing_note,
    }))
}

/// Reads an `HH:MM` time of day.
pub fn parse_time(text: &str) -> Result<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| {
        AppError::BadSetting(format!(
            "digest time {text:?} is not a time of day: give HH:MM, such as 07:30"
        ))
    })
}

/// A digest that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The user's day it is sent on (and recorded under).
    pub day: NaiveDate,
    /// The days of announcements it covers, up to and including `day`.
    pub days: u32,
}

/// Whether the user's digest is due at `now`, given the day of their last one; `first_days`
/// is how many days a first digest covers (the `[schedule]` table's `digest_days`).
///
/// A user who never had a digest waits for today's slot (a weekly one for its day), so that
/// adding a user does not send at once; one who had catches up on a slot missed since.
pub fn due(
    timing: &Timing,
    now: DateTime<Utc>,
    last: Option<NaiveDate>,
    first_days: u32,
) -> Option<Due> {
    let wall = timing.zone.wall_clock(now);
    let today = wall.date();
    if last.is_some_and(|last| last >= today) {
        return None;
    }
    let looked_back = if last.is_some() { 8 } else { 0 };
    let slot = (0..=looked_back)
        .filter_map(|back| today.checked_sub_days(Days::new(back)))
        .filter(|day| *day < today || wall.time() >= timing.at)
        .find(|day| allows(timing, *day))?;
    if last.is_some_and(|last| last >= slot) {
        return None;
    }
    let period = match timing.cadence {
        Cadence::Weekly(_) => 7,
        _ => 1,
    };
    let since = last.map_or(period, |last| {
        u32::try_from((today - last).num_days()).unwrap_or(MAX_CATCH_UP_DAYS)
    });
    Some(Due {
        day: today,
        days: since.min(MAX_CATCH_UP_DAYS).max(first_days).max(1),
    })
}

/// Whether the cadence has a slot on this day.
fn allows(timing: &Timing, day: NaiveDate) -> bool {
    match timing.cadence {
        Cadence::Daily => true,
        Cadence::Weekdays => !matches!(day.weekday(), Weekday::Sat | Weekday::Sun),
        Cadence::Weekly(weekday) => day.weekday().num_days_from_monday() == u32::from(weekday),
        Cadence::Announcement => announced_before(timing, day),
    }
}

/// Whether arXiv announced between the user's hour the day before `day` and their hour on
/// `day`: the days an `announcement` digest has something new to send. arXiv's holidays are
/// not known here: on one, the digest of the morning after finds nothing and sends nothing.
fn announced_before(timing: &Timing, day: NaiveDate) -> bool {
    let Some(slot) = timing.zone.instant(day.and_time(timing.at)) else {
        return false;
    };
    let Some(before) = day
        .pred_opt()
        .and_then(|d| timing.zone.instant(d.and_time(timing.at)))
    else {
        return false;
    };
    let eight_pm = NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN);
    // The user's day spans at most three Eastern days.
    (0..4)
        .filter_map(|back| day.succ_opt()?.checked_sub_days(Days::new(back)))
        .filter(|eastern| !matches!(eastern.weekday(), Weekday::Fri | Weekday::Sat))
        .filter_map(|eastern| {
            ARXIV_ZONE
                .from_local_datetime(&eastern.and_time(eight_pm))
                .earliest()
        })
        .any(|announced| before < announced && announced <= slot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::UserSchedule;
    use crate::testing::utc;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a day")
    }

    fn timing(cadence: &str, zone: &str, at: &str) -> Timing {
        Timing {
            cadence: cadence.parse().expect("a cadence"),
            zone: Zone::parse(zone).expect("a zone"),
            at: parse_time(at).expect("a time"),
            nothing_note: false,
        }
    }

    #[test]
    fn a_daily_digest_comes_at_the_users_hour_in_the_users_zone() {
        let tokyo = timing("daily", "Asia/Tokyo", "07:30");
        // 2026-03-09 07:29 in Tokyo is 2026-03-08 22:29 UTC.
        let last = Some(day("2026-03-08"));
        assert_eq!(due(&tokyo, utc("2026-03-08T22:29:00Z"), last, 1), None);
        assert_eq!(
            due(&tokyo, utc("2026-03-08T22:30:00Z"), last, 1),
            Some(Due {
                day: day("2026-03-09"),
                days: 1
            })
        );
        // Once sent, not again that day.
        assert_eq!(
            due(
                &tokyo,
                utc("2026-03-09T10:00:00Z"),
                Some(day("2026-03-09")),
                1
            ),
            None
        );
    }

    #[test]
    fn a_missed_day_is_caught_up_once_and_covers_every_day_since() {
        let berlin = timing("daily", "Europe/Berlin", "08:00");
        // Back on the 12th at 06:00, before the hour, after the 9th's digest.
        let caught = due(
            &berlin,
            utc("2026-03-12T05:00:00Z"),
            Some(day("2026-03-09")),
            1,
        );
        assert_eq!(
            caught,
            Some(Due {
                day: day("2026-03-12"),
                days: 3
            })
        );
        // A new user waits for the hour.
        assert_eq!(due(&berlin, utc("2026-03-12T05:00:00Z"), None, 1), None);
        assert!(due(&berlin, utc("2026-03-12T07:00:00Z"), None, 1).is_some());
        // A week away is a week's digest; a long absence is capped.
        let back = due(
            &berlin,
            utc("2026-05-01T07:00:00Z"),
            Some(day("2026-03-09")),
            1,
        );
        assert_eq!(back.map(|d| d.days), Some(MAX_CATCH_UP_DAYS));
    }

    #[test]
    fn weekdays_skip_the_weekend_and_monday_covers_it() {
        let weekdays = timing("weekdays", "UTC", "07:00");
        // 2026-03-07 is a Saturday.
        assert_eq!(
            due(
                &weekdays,
                utc("2026-03-07T09:00:00Z"),
                Some(day("2026-03-06")),
                1
            ),
            None
        );
        assert_eq!(
            due(
                &weekdays,
                utc("2026-03-09T09:00:00Z"),
                Some(day("2026-03-06")),
                1
            ),
            Some(Due {
                day: day("2026-03-09"),
                days: 3
            })
        );
    }

    #[test]
    fn a_weekly_digest_comes_on_its_day_and_covers_the_week() {
        let weekly = timing("weekly:mon", "UTC", "07:00");
        let last = Some(day("2026-03-02"));
        for idle in ["2026-03-03", "2026-03-05", "2026-03-08"] {
            let now = utc(&format!("{idle}T12:00:00Z"));
            assert_eq!(due(&weekly, now, last, 1), None, "{idle}");
        }
        assert_eq!(
            due(&weekly, utc("2026-03-09T07:00:00Z"), last, 1),
            Some(Due {
                day: day("2026-03-09"),
                days: 7
            })
        );
        // A first weekly digest waits for its day, and then is a week's too.
        assert_eq!(due(&weekly, utc("2026-03-05T12:00:00Z"), None, 1), None);
        assert_eq!(
            due(&weekly, utc("2026-03-09T08:00:00Z"), None, 1).map(|d| d.days),
            Some(7)
        );
        // Missed on Monday, sent on Tuesday.
        assert!(due(&weekly, utc("2026-03-10T01:00:00Z"), last, 1).is_some());
    }

    #[test]
    fn announcement_digests_follow_arxivs_calendar() {
        let berlin = timing("announcement", "Europe/Berlin", "07:00");
        // Announcements are Sunday to Thursday at 20:00 in New York: mornings after are
        // Monday to Friday in Berlin, never Saturday or Sunday.
        let mornings: Vec<Weekday> = (2..=8)
            .map(|d| day(&format!("2026-03-{d:02}")))
            .filter(|d| allows(&berlin, *d))
            .map(|d| d.weekday())
            .collect();
        assert_eq!(
            mornings,
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri
            ]
        );
        // An announcement reaches Tokyo at 09:00 or 10:00 the next day: a noon digest there
        // follows it the same day, a 07:00 one the day after, Tuesday to Saturday.
        let in_tokyo = |at: &str| -> Vec<Weekday> {
            let tokyo = timing("announcement", "Asia/Tokyo", at);
            (2..=8)
                .map(|d| day(&format!("2026-03-{d:02}")))
                .filter(|d| allows(&tokyo, *d))
                .map(|d| d.weekday())
                .collect()
        };
        assert_eq!(in_tokyo("12:00"), mornings);
        assert_eq!(
            in_tokyo("07:00"),
            [
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat
            ]
        );
    }

    #[test]
    fn the_users_own_settings_come_before_the_config() {
        let mut config = ScheduleConfig {
            digest_at: Some("06:00".into()),
            timezone: Some("UTC".into()),
            ..ScheduleConfig::default()
        };
        config.users.insert(
            "ada".into(),
            UserSchedule {
                digest_at: Some("09:00".into()),
                cadence: Some(Cadence::Weekdays),
                timezone: None,
            },
        );
        let own = DigestTiming {
            timezone: Some("Asia/Tokyo".into()),
            ..DigestTiming::default()
        };
        let ada = super::timing("ada", &own, &config)
            .expect("valid")
            .expect("scheduled");
        assert_eq!(ada.at, parse_time("09:00").expect("time"));
        assert_eq!(ada.cadence, Cadence::Weekdays);
        assert_eq!(ada.zone, Zone::parse("Asia/Tokyo").expect("zone"));
        let grace = super::timing("grace", &DigestTiming::default(), &config)
            .expect("valid")
            .expect("scheduled");
        assert_eq!(grace.cadence, Cadence::Daily);
        assert_eq!(grace.zone, Zone::Named(chrono_tz::UTC));
        // No hour anywhere: no scheduled digest.
        let none = super::timing("x", &DigestTiming::default(), &ScheduleConfig::default());
        assert_eq!(none.expect("valid"), None);
        let bad = DigestTiming {
            timezone: Some("Mars/Olympus".into()),
            ..DigestTiming::default()
        };
        let err = super::timing("ada", &bad, &config).unwrap_err().to_string();
        assert!(err.contains("IANA"), "{err}");
    }
}
