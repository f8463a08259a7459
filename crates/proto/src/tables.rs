//! Answers as people read them: the tables the command line prints and the text protocol
//! answers with, the same for a local and a remote answer.

use paperscout_app::backtest::{Backtest, DEPTH};
use paperscout_app::choose::Digest;
use paperscout_app::facets::UserFacets;
use paperscout_app::library::Synced;
use paperscout_app::rerank::StoredRanking;
use paperscout_app::why_not::WhyNot;

use std::fmt::Write as _;

use paperscout_app::users::Shown;
use paperscout_ingest::Report;
use paperscout_store::{FeedbackKind, ProfileSubject, QueuedMail};
use paperscout_types::{FacetMode, UserSettings};

use crate::answers::{FeedbackAnswer, HealthAnswer, SimilarAnswer, UndoAnswer, UserAnswer};

/// `similar`'s answer as a table, for people.
pub fn similar_table(result: &SimilarAnswer) -> String {
    let query = &result.query;
    let mut out = match &query.id {
        Some(id) => format!("papers like {id}  {}\n", query.text),
        None => format!("papers like the text {:?}\n", query.text),
    };
    out += &format!(
        "{:>3}  {:>5}  {:<20}  {:<10}  {}\n",
        "#", "score", "id", "date", "title"
    );
    for (n, hit) in result.hits.iter().enumerate() {
        out += &format!(
            "{:>3}  {:>5.3}  {:<20}  {:<10}  {}\n",
            n + 1,
            hit.score,
            hit.id,
            hit.date.as_deref().unwrap_or("-"),
            clip(&hit.title, 90)
        );
    }
    out
}

/// A recommendation as a numbered list with reasons, for people.
pub fn recommendations(digest: &Digest) -> String {
    let mut out = format!(
        "{} of {} papers announced {} … {} for {}\n",
        digest.papers.len(),
        digest.candidates,
        digest.from,
        digest.to,
        digest.user
    );
    for (n, entry) in digest.papers.iter().enumerate() {
        if let Some(facet) = digest.section_starting(n) {
            let _ = writeln!(out, "── {facet}");
        }
        out += &format!(
            "{:>3}. {:>6.2}  {}  {}\n       because of “{}” (similarity {:.2})\n",
            n + 1,
            entry.score,
            entry.paper.id,
            clip(&entry.paper.title, 80),
            clip(&entry.because.item, 70),
            entry.because.similarity
        );
    }
    out
}

fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_owned()
    } else {
        text.chars().take(limit - 1).collect::<String>() + "…"
    }
}

/// `why_not`'s answer, for people: the verdict, the score against the cut-off, and the profile
/// items the paper is nearest.
pub fn why_not_text(answer: &WhyNot) -> String {
    let mut out = format!(
        "{}  {}\n{}\n",
        answer.paper.id,
        answer.paper.title,
        answer.sentence()
    );
    if let (Some(score), Some(cutoff)) = (answer.score, answer.cutoff) {
        let _ = writeln!(
            out,
            "score {score:.2}; the digest's last pick scores {cutoff:.2}"
        );
    }
    if let Some(because) = &answer.because {
        let _ = writeln!(out, "{}", paperscout_app::render::because_line(because));
    }
    for nearest in &answer.nearest {
        let _ = writeln!(out, "  {:>5.2}  {}", nearest.similarity, nearest.item);
    }
    out
}

/// `stats` for people: the store at `path`, and the running daemon's index when one runs.
pub fn stats_text(
    path: &str,
    stats: &paperscout_store::Stats,
    index: Option<&crate::IndexStats>,
) -> String {
    let dates = match (&stats.first_date, &stats.last_date) {
        (Some(first), Some(last)) => format!("{first} … {last}"),
        _ => "none".to_owned(),
    };
    let mut out = format!("{:<12} {path}\n", "store");
    if let Some(bytes) = stats.file_bytes {
        let _ = writeln!(
            out,
            "{:<12} {:.1} MiB",
            "size",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    let _ = writeln!(out, "{:<12} {}", "papers", stats.papers);
    let _ = writeln!(out, "{:<12} {dates}", "announced");
    let _ = writeln!(out, "{:<12} {}", "users", stats.users);
    let _ = writeln!(out, "{:<12} {}", "embeddings", stats.embeddings);
    if let Some(index) = index {
        let _ = writeln!(
            out,
            "{:<12} {} papers in the running daemon's index ({} points)",
            "index", index.papers, index.points
        );
    }
    for model in &stats.models {
        let share = 100.0 * model.count as f64 / (stats.papers.max(1)) as f64;
        let _ = writeln!(
            out,
            "  {} ({}-d, sha256 {}…): {} ({share:.1}% of papers)",
            model.name,
            model.dim,
            model.sha256.get(..12).unwrap_or(&model.sha256),
            model.count
        );
    }
    out
}

/// How a kind of feedback reads in a sentence.
pub fn past_tense(kind: FeedbackKind) -> &'static str {
    match kind {
        FeedbackKind::Like => "liked",
        FeedbackKind::Dislike => "disliked",
        FeedbackKind::Save => "saved",
        FeedbackKind::Dismiss => "dismissed",
    }
}

/// What `like` and the others recorded, a line a paper.
pub fn feedback_lines(answer: &FeedbackAnswer) -> String {
    answer
        .papers
        .iter()
        .map(|id| format!("{} {}: {id}\n", answer.user, past_tense(answer.kind)))
        .collect()
}

/// A backtest's report for people: each held-out paper's place on its day, then hit@N,
/// MRR and what a floor would have cost.
pub fn backtest_text(report: &Backtest) -> String {
    let mut out = format!(
        "backtest of {}: {} papers held out, ranked with the {} kept\n",
        report.user,
        report.held_out.len(),
        report.kept
    );
    for held in &report.held_out {
        let place = held.rank.map_or_else(
            || format!("not in the top {DEPTH}"),
            |rank| format!("#{rank} of {}", held.candidates),
        );
        let _ = writeln!(
            out,
            "  {}  {place:<14}  {} ({}) {}",
            held.day, held.paper, held.how, held.title
        );
    }
    let hits: Vec<String> = report
        .hit_at
        .iter()
        .map(|(size, share)| format!("hit@{size} {share:.2}"))
        .collect();
    let _ = writeln!(out, "{}; MRR {:.3}", hits.join(", "), report.mrr);
    for (floor, cut) in &report.floor_cost {
        let _ = writeln!(
            out,
            "a floor of {floor:.1} would have left out {cut} of the top-10 hits"
        );
    }
    out
}

/// A user's facets for people: each with its number, name, share and mode, then its newest
/// items.
pub fn facets_text(list: &UserFacets) -> String {
    let mut out = format!(
        "{} falls into {} facet{}:\n",
        list.user,
        list.facets.len(),
        if list.facets.len() == 1 { "" } else { "s" }
    );
    for facet in &list.facets {
        let mode = match facet.mode {
            FacetMode::Normal => "",
            FacetMode::Muted => "  [muted]",
            FacetMode::Boosted => "  [boosted]",
        };
        let terms = if facet.named {
            format!("  ({})", facet.terms.join(", "))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:>3}. {}{terms}{mode}\n     {} item{}, {:.0}% of your engagement",
            facet.number,
            facet.name,
            facet.items,
            if facet.items == 1 { "" } else { "s" },
            facet.share * 100.0
        );
        for example in &facet.examples {
            let _ = writeln!(out, "       · {}", clip(example, 90));
        }
    }
    out
}

/// A user's stored ranking (`recommend --stored`), a paper and its reason each.
pub fn stored_ranking_text(ranking: &StoredRanking) -> String {
    let when = chrono::DateTime::from_timestamp(ranking.computed, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    let mut out = format!(
        "{}'s recommendations, ranked by {} at {when}:\n",
        ranking.user, ranking.method
    );
    for (rank, paper) in ranking.papers.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>3}. {:>6.2}  {}  {}\n       {}",
            rank + 1,
            paper.score,
            paper.id,
            paper.title,
            paperscout_app::render::because_line(&paper.because)
        );
    }
    out
}

/// `health` as `paperscout status` says it, in one line.
pub fn health_line(health: &HealthAnswer, socket: &std::path::Path) -> String {
    let mut out = format!(
        "paperscout {} serving on {} as pid {}: up {:.0} s, {} papers indexed, {} connections, \
         {} requests waiting for the model\n",
        health.version,
        socket.display(),
        health.pid,
        health.uptime_seconds,
        health.papers_indexed,
        health.connections,
        health.model_queue,
    );
    if let Some(cluster) = &health.cluster {
        let _ = writeln!(
            out,
            "store {}: {} daemons; this one {} the schedule",
            cluster.database,
            cluster.daemons.len(),
            if cluster.leader { "leads" } else { "follows" }
        );
        for daemon in &cluster.daemons {
            let _ = writeln!(
                out,
                "  {:<28} {:<7} index {} behind, seen {} s ago{}",
                daemon.name,
                if daemon.leader { "leader" } else { "" },
                daemon.index_lag,
                daemon.seen_seconds_ago,
                if daemon.this { "  (this one)" } else { "" }
            );
        }
    }
    out
}

/// A user as `user show` prints them: papers sent, the profile (each paper with the title
/// `title` finds), the ratings, and the settings.
pub fn shown_text(shown: &Shown, title: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = format!(
        "user {} ({} papers sent so far)\n",
        shown.user.name, shown.sent
    );
    for item in &shown.profile {
        let _ = match &item.subject {
            ProfileSubject::Paper(id) => {
                writeln!(out, "  paper     {id}  {}", title(id).unwrap_or_default())
            }
            ProfileSubject::Interest(text) => writeln!(out, "  interest  {text}"),
        };
    }
    for event in &shown.feedback {
        let _ = writeln!(out, "  {:<9} {}", event.kind.as_str(), event.paper_id);
    }
    out + &settings_lines(&shown.user.name, &shown.user.settings)
}

/// What reading a followed library did to a profile.
pub fn synced_lines(user: &str, file: &str, synced: &Synced) -> String {
    let mut out = format!(
        "{user} follows {file}: {} papers joined the profile, {} left it\n",
        synced.added.len(),
        synced.removed.len()
    );
    for skipped in &synced.skipped {
        let _ = writeln!(out, "  skipped: {skipped}");
    }
    out
}

/// What `undo` forgot, a line a paper.
pub fn undo_lines(answer: &UndoAnswer) -> String {
    answer
        .papers
        .iter()
        .map(|undone| match undone.forgotten {
            0 => format!("{}: {} had no rating to undo\n", answer.user, undone.paper),
            1 => format!("{}: forgot the rating of {}\n", answer.user, undone.paper),
            n => format!("{}: forgot {n} ratings of {}\n", answer.user, undone.paper),
        })
        .collect()
}

/// What a changing `user` action did, as the command line reports it (`list` and `show`
/// print their own tables).
pub fn user_lines(answer: &UserAnswer) -> String {
    match answer {
        UserAnswer::Set(set) => settings_lines(&set.user, &set.settings),
        UserAnswer::Removed(removed) => format!(
            "removed user {} with their profile, feedback and digest history\n",
            removed.removed
        ),
        UserAnswer::Added(added) => format!(
            "{} user {}: {} profile items added, {} unknown papers\n",
            if added.created { "created" } else { "updated" },
            added.user,
            added.added,
            added.unknown.len(),
        ),
        UserAnswer::Revoked(revoked) => format!(
            "every web link and session of {0} has ended; `paperscout user link {0}` makes a new one\n",
            revoked.revoked
        ),
        UserAnswer::List(_) | UserAnswer::Show(_) => String::new(),
    }
}

/// What an ingest of one source (or of all, `source` "in all") did, in one line.
pub fn ingest_line(source: &str, report: &Report, seconds: f64) -> String {
    let written = &report.written;
    let mut line = format!(
        "{source}: {} papers read in {seconds:.1} s ({:.0} papers/s): {} new, {} updated, {} \
         unchanged",
        report.read,
        report.read as f64 / seconds.max(1e-9),
        written.added,
        written.updated,
        written.unchanged,
    );
    if written.older > 0 {
        let _ = write!(line, ", {} older than stored", written.older);
    }
    let _ = write!(line, "; {} embedded", written.embedded);
    if report.embed_seconds > 0.0 {
        let _ = write!(
            line,
            " ({:.0}% of the time in the model)",
            100.0 * report.embed_seconds / seconds.max(1e-9)
        );
    }
    if report.deleted > 0 {
        let _ = write!(line, "; {} deleted upstream", report.deleted);
    }
    if report.shortened > 0 {
        let _ = write!(line, "; {} with over-long fields cut", report.shortened);
    }
    if report.bad > 0 {
        let _ = write!(line, "; {} bad records skipped", report.bad);
    }
    line
}

/// The messages waiting in the outbox (e-mail and webhook posts), a line each; a webhook's
/// URL is shown without its path, which is its secret.
pub fn mail_queue_lines(queued: &[QueuedMail]) -> String {
    if queued.is_empty() {
        return "nothing waiting: every digest e-mail and webhook post was delivered\n".to_owned();
    }
    let mut out = String::new();
    for mail in queued {
        let last = mail
            .last_error
            .as_ref()
            .map(|why| format!("; last: {why}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "#{}  {}  {}  {} → {}  ({} tries{last})",
            mail.id,
            mail.user,
            mail.day,
            mail.channel.as_str(),
            shown_recipient(mail),
            mail.attempts
        );
    }
    out
}

/// Where a queued message goes, as it may be shown: a webhook without its secret path.
fn shown_recipient(mail: &QueuedMail) -> String {
    match mail.channel {
        paperscout_store::Channel::Email => mail.recipient.clone(),
        paperscout_store::Channel::Webhook => paperscout_app::webhook::redact(&mail.recipient),
    }
}

/// A user's e-mail address and rules, one line each.
pub fn settings_lines(name: &str, settings: &UserSettings) -> String {
    let rules = &settings.rules;
    let mut out = format!(
        "settings of {name}: e-mail {}\n",
        settings.email.as_deref().unwrap_or("(none)")
    );
    let lists = [
        ("only categories", &rules.categories),
        ("muted categories", &rules.mute_categories),
        ("boosted keywords", &rules.boost_keywords),
        ("muted keywords", &rules.mute_keywords),
        ("boosted authors", &rules.boost_authors),
        ("muted authors", &rules.mute_authors),
    ];
    for (label, list) in lists {
        if !list.is_empty() {
            let _ = writeln!(out, "  {label}: {}", list.join("; "));
        }
    }
    if let Some(floor) = rules.min_similarity {
        let _ = writeln!(out, "  minimum similarity: {floor}");
    }
    if let Some(size) = rules.size {
        let _ = writeln!(out, "  digest size: {size}");
    }
    for follow in &settings.follows {
        let _ = writeln!(
            out,
            "  follows {} ({} papers from it)",
            follow.path,
            follow.papers.len()
        );
    }
    for watch in &settings.watches {
        let _ = writeln!(
            out,
            "  watches {:?} (cosine {}): {}",
            watch.label,
            watch.threshold,
            watch.text.lines().next().unwrap_or_default()
        );
    }
    let timing = &settings.timing;
    if !timing.is_unset() {
        let _ = writeln!(
            out,
            "  digests: {} at {} ({}){}",
            timing
                .cadence
                .map_or_else(|| "the daemon's cadence".to_owned(), |c| c.to_string()),
            timing.digest_at.as_deref().unwrap_or("the daemon's hour"),
            timing
                .timezone
                .as_deref()
                .unwrap_or("the daemon's time zone"),
            if timing.nothing_note {
                "; a note on days with nothing new"
            } else {
                ""
            }
        );
    }
    for hook in &settings.webhooks {
        let _ = writeln!(
            out,
            "  posts to {} ({}; `--json` shows the whole URL)",
            paperscout_app::webhook::redact(&hook.url),
            hook.format.name()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_title_is_clipped_with_an_ellipsis_and_a_short_one_kept() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("a longer title", 6), "a lon…");
    }

    #[test]
    fn settings_show_only_the_rules_set() {
        let mut settings = UserSettings::default();
        settings.rules.mute_keywords = vec!["survey".to_owned(), "position paper".to_owned()];
        settings.rules.size = Some(7);
        let text = settings_lines("ada", &settings);
        assert_eq!(
            text,
            "settings of ada: e-mail (none)\n  muted keywords: survey; position paper\n  digest size: 7\n"
        );
    }

    #[test]
    fn feedback_reads_as_a_sentence_a_paper() {
        let answer = FeedbackAnswer {
            user: "ada".to_owned(),
            kind: FeedbackKind::Dismiss,
            papers: vec!["arXiv:2503.1".to_owned(), "arXiv:2503.2".to_owned()],
        };
        assert_eq!(
            feedback_lines(&answer),
            "ada dismissed: arXiv:2503.1\nada dismissed: arXiv:2503.2\n"
        );
    }
}
