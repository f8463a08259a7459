//! `paperscout digest`: a user's papers of the day, chosen, diversified, explained, rendered,
//! and recorded as sent so none is ever sent twice.
//!
//! The order is: choose, write the output (a file appears in one rename), then record the
//! papers as sent in one transaction. A crash between the last two can show a paper again in
//! the next digest; it can never drop one silently.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Days, NaiveDate};
use paperscout_rank::Matrix;
use paperscout_rank::digest::{DigestInput, DigestParams, Pick, select};
use paperscout_store::{FeedbackKind, ProfileSubject, SqliteStore, Store, StoredPaper};
use paperscout_types::Paper;
use serde::Serialize;

use crate::cli::{DigestArgs, DigestFormat};
use crate::config::Settings;
use crate::store_model::StoreModel;

/// Why a profile item is in the profile: how a pick's explanation begins.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Reason {
    Added,
    Interest,
    Liked,
    Saved,
}

struct Item {
    reason: Reason,
    label: String,
    text: String,
    vector: Vec<f32>,
}

#[derive(Serialize)]
struct Because<'a> {
    reason: Reason,
    item: &'a str,
    similarity: f32,
    shared_terms: &'a [String],
}

#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    paper: &'a Paper,
    score: f32,
    because: Because<'a>,
}

#[derive(Serialize)]
struct Digest<'a> {
    user: &'a str,
    from: String,
    to: String,
    candidates: usize,
    papers: Vec<Entry<'a>>,
}

/// Runs the command.
pub fn run(args: &DigestArgs, settings: &Settings, quiet: bool) -> Result<()> {
    let path = paperscout_store::file_in(&settings.data_dir);
    let mut store = SqliteStore::open(&path)?;
    let user = &args.user;
    store
        .user(user)?
        .ok_or_else(|| paperscout_store::StoreError::NoSuchUser(user.clone()))?;
    let model = StoreModel::load(settings)?;

    let day = match &args.date {
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .with_context(|| format!("--date {text:?} is not a day (YYYY-MM-DD)"))?,
        None => chrono::DateTime::from_timestamp(paperscout_store::now(), 0)
            .map_or(NaiveDate::MIN, |now| now.date_naive()),
    };
    let sent: HashSet<String> = store.sent(user)?.into_iter().collect();
    let feedback = store.feedback(user)?;
    // Since the last digest: the day after the newest paper sent, else the last --days days.
    let mut sent_days = Vec::new();
    for id in &sent {
        if let Some(date) = store.paper(id)?.and_then(|stored| stored.paper.date) {
            sent_days.push(date);
        }
    }
    let last_sent_day = sent_days
        .into_iter()
        .max()
        .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let window_start = day
        .checked_sub_days(Days::new(u64::from(args.days.max(1)) - 1))
        .unwrap_or(day);
    let from = match last_sent_day {
        Some(last) if last >= window_start => last.succ_opt().unwrap_or(last),
        _ => window_start,
    };
    let from: String = from.format("%Y-%m-%d").to_string();
    let to: String = day.format("%Y-%m-%d").to_string();

    let profile_items = store.profile(user)?;
    // Never offer what was sent, rated, or is in the profile already.
    let mut known: HashSet<String> = feedback.iter().map(|f| f.paper_id.clone()).collect();
    known.extend(profile_items.iter().filter_map(|item| match &item.subject {
        ProfileSubject::Paper(id) => Some(id.clone()),
        ProfileSubject::Interest(_) => None,
    }));
    let candidates: Vec<StoredPaper> = store
        .papers_announced(&from, &to)?
        .into_iter()
        .filter(|p| !sent.contains(&p.paper.id) && !known.contains(&p.paper.id))
        .collect();
    if candidates.is_empty() {
        tracing::warn!(
            "no new papers for {user} announced {from} … {to} (a weekend, a holiday, or nothing ingested yet); no digest"
        );
        return Ok(());
    }

    let mut items = Vec::new();
    let mut profile: Vec<(i64, Reason, String)> = profile_items
        .into_iter()
        .map(|item| match item.subject {
            ProfileSubject::Paper(id) => (item.added, Reason::Added, id),
            ProfileSubject::Interest(text) => (item.added, Reason::Interest, text),
        })
        .collect();
    let mut negatives = Vec::new();
    for event in &feedback {
        match event.kind {
            FeedbackKind::Like => profile.push((event.at, Reason::Liked, event.paper_id.clone())),
            FeedbackKind::Save => profile.push((event.at, Reason::Saved, event.paper_id.clone())),
            FeedbackKind::Dislike | FeedbackKind::Dismiss => negatives.push(event.paper_id.clone()),
        }
    }
    // Newest first.
    profile.sort_by_key(|item| std::cmp::Reverse(item.0));
    for (_, reason, key) in profile {
        let item = match reason {
            Reason::Interest => Item {
                reason,
                label: key.clone(),
                vector: embed(&model, &key)?,
                text: key,
            },
            _ => {
                let Some(stored) = store.paper(&key)? else {
                    continue;
                };
                let text = stored.paper.embedding_text();
                Item {
                    reason,
                    label: stored.paper.title.clone(),
                    vector: paper_vector(&store, &model, &stored.paper)?,
                    text,
                }
            }
        };
        items.push(item);
    }
    if items.is_empty() {
        anyhow::bail!(
            "{user}'s profile is empty: add papers or interests with `paperscout user add {user} --papers FILE --interest TEXT`"
        );
    }
    let dim = model.key().dim;
    let mut negative_vectors = Matrix::new(dim);
    for id in &negatives {
        if let Some(stored) = store.paper(id)? {
            negative_vectors.push(&paper_vector(&store, &model, &stored.paper)?);
        }
    }
    let mut candidate_vectors = Matrix::new(dim);
    for candidate in &candidates {
        candidate_vectors.push(&paper_vector(&store, &model, &candidate.paper)?);
    }
    let mut item_vectors = Matrix::new(dim);
    for item in &items {
        item_vectors.push(&item.vector);
    }
    let candidate_texts: Vec<String> = candidates
        .iter()
        .map(|c| c.paper.embedding_text())
        .collect();
    let item_texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
    let input = DigestInput {
        candidate_vectors: &candidate_vectors,
        candidate_texts: &candidate_texts,
        item_vectors: &item_vectors,
        item_texts: &item_texts,
        negative_vectors: &negative_vectors,
    };
    let params = DigestParams {
        size: args.size,
        mmr_lambda: args.mmr_lambda,
        min_similarity: args.min_similarity,
        ..DigestParams::default()
    };
    let picks = select(&input, &params);

    let digest = Digest {
        user,
        from,
        to,
        candidates: candidates.len(),
        papers: picks
            .iter()
            .map(|pick| entry(pick, &candidates, &items))
            .collect(),
    };
    let rendered = match args.format {
        DigestFormat::Markdown => markdown(&digest),
        DigestFormat::Json => serde_json::to_string_pretty(&digest)? + "\n",
        DigestFormat::Html => html(&digest),
        DigestFormat::Atom => atom(&digest, paperscout_store::now()),
    };
    match &args.out {
        Some(path) => write_atomically(path, &rendered)?,
        None => std::io::stdout().lock().write_all(rendered.as_bytes())?,
    }
    if args.dry_run {
        if !quiet {
            eprintln!("dry run: {} papers not recorded as sent", picks.len());
        }
        return Ok(());
    }
    let ids: Vec<&str> = digest.papers.iter().map(|e| e.paper.id.as_str()).collect();
    let recorded = store.record_sent(user, &ids, paperscout_store::now())?;
    if !quiet {
        eprintln!(
            "digest for {user}: {} of {} papers announced {} … {}; recorded as sent",
            recorded, digest.candidates, digest.from, digest.to
        );
    }
    Ok(())
}

fn embed(model: &StoreModel, text: &str) -> Result<Vec<f32>> {
    let mut vectors = model.embedder().embed(&[text])?;
    vectors.pop().context("the embedder returned no vector")
}

/// The stored embedding of the paper's current text, or a fresh one.
fn paper_vector(store: &SqliteStore, model: &StoreModel, paper: &Paper) -> Result<Vec<f32>> {
    match store.embedding(&paper.id, model.key())? {
        Some(vector) => Ok(vector),
        None => embed(model, &paper.embedding_text()),
    }
}

fn entry<'a>(pick: &'a Pick, candidates: &'a [StoredPaper], items: &'a [Item]) -> Entry<'a> {
    let item = &items[pick.closest_item];
    Entry {
        paper: &candidates[pick.candidate].paper,
        score: pick.score,
        because: Because {
            reason: item.reason,
            item: &item.label,
            similarity: pick.similarity,
            shared_terms: &pick.shared_terms,
        },
    }
}

fn markdown(digest: &Digest<'_>) -> String {
    let mut out = format!(
        "# paperscout digest for {} — {}\n\n{} of {} papers announced {} … {}\n",
        digest.user,
        digest.to,
        digest.papers.len(),
        digest.candidates,
        digest.from,
        digest.to
    );
    for (n, entry) in digest.papers.iter().enumerate() {
        let paper = entry.paper;
        out += &format!("\n## {}. {}\n\n", n + 1, paper.title);
        let mut line = paper.authors.join(", ");
        if !paper.categories.is_empty() {
            line += &format!(" · {}", paper.categories.join(" "));
        }
        if let Some(links) = &paper.links {
            if let Some(abs) = &links.abs {
                line += &format!(" · [abs]({abs})");
            }
            if let Some(pdf) = &links.pdf {
                line += &format!(" · [pdf]({pdf})");
            }
        }
        out += &format!("{line}\n\n> {}\n\n", snippet(&paper.abstract_text, 320));
        out += &because_line(&entry.because);
        out += "\n";
    }
    out
}

fn because_line(because: &Because<'_>) -> String {
    let reason = match because.reason {
        Reason::Added => "you follow",
        Reason::Interest => "you are interested in",
        Reason::Liked => "you liked",
        Reason::Saved => "you saved",
    };
    let mut line = format!(
        "Because {reason} “{}” (similarity {:.2}",
        because.item, because.similarity
    );
    if !because.shared_terms.is_empty() {
        line += &format!("; shared terms: {}", because.shared_terms.join(", "));
    }
    line + ")"
}

fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

/// An e-mail-safe page: tables and inline styles only, no scripts or external resources.
fn html(digest: &Digest<'_>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>paperscout digest for {user} — {to}</title></head>\n\
         <body style=\"margin:0;padding:16px;background:#f6f6f6;font-family:Georgia,serif;color:#222\">\n\
         <table role=\"presentation\" width=\"100%\" style=\"max-width:720px;margin:0 auto;background:#fff;border-collapse:collapse\">\n\
         <tr><td style=\"padding:16px 20px;border-bottom:2px solid #333\"><h1 style=\"margin:0;font-size:22px\">paperscout · {to}</h1>\
         <p style=\"margin:4px 0 0;color:#666;font-size:14px\">{shown} of {count} papers announced {from} … {to}</p></td></tr>\n",
        user = escape(digest.user),
        to = escape(&digest.to),
        from = escape(&digest.from),
        shown = digest.papers.len(),
        count = digest.candidates,
    );
    for (n, entry) in digest.papers.iter().enumerate() {
        let paper = entry.paper;
        let abs = paper
            .links
            .as_ref()
            .and_then(|l| l.abs.clone())
            .unwrap_or_default();
        let pdf = paper
            .links
            .as_ref()
            .and_then(|l| l.pdf.clone())
            .unwrap_or_default();
        let width = (entry.because.similarity.clamp(0.0, 1.0) * 100.0).round();
        out += &format!(
            "<tr><td style=\"padding:16px 20px;border-bottom:1px solid #ddd\">\n\
             <h2 style=\"margin:0 0 4px;font-size:18px\">{number}. <a href=\"{abs}\" style=\"color:#1a0dab;text-decoration:none\">{title}</a></h2>\n\
             <p style=\"margin:0 0 6px;color:#555;font-size:13px\">{authors} · {categories} · <a href=\"{pdf}\">pdf</a></p>\n\
             <p style=\"margin:0 0 8px;font-size:14px;line-height:1.4\">{snippet}</p>\n\
             <table role=\"presentation\" width=\"160\" style=\"border-collapse:collapse;margin:0 0 6px\"><tr>\
             <td width=\"{width}%\" style=\"background:#3b7;height:6px\"></td><td style=\"background:#ddd;height:6px\"></td></tr></table>\n\
             <p style=\"margin:0;color:#444;font-size:13px;font-style:italic\">{because}</p>\n</td></tr>\n",
            number = n + 1,
            abs = escape(&abs),
            title = escape(&paper.title),
            authors = escape(&paper.authors.join(", ")),
            categories = escape(&paper.categories.join(" ")),
            pdf = escape(&pdf),
            snippet = escape(&snippet(&paper.abstract_text, 400)),
            because = escape(&because_line(&entry.because)),
        );
    }
    out + "</table>\n</body></html>\n"
}

/// An Atom feed of the digest's papers; entry ids are the papers' pages, so a reader that
/// polls the file shows each paper once.
fn atom(digest: &Digest<'_>, now: i64) -> String {
    let updated = chrono::DateTime::from_timestamp(now, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>paperscout digest for {user}</title>\n<id>urn:paperscout:digest:{user}</id>\n<updated>{updated}</updated>\n\
         <author><name>paperscout</name></author>\n",
        user = escape(digest.user),
    );
    for entry in &digest.papers {
        let paper = entry.paper;
        let abs = paper.links.as_ref().and_then(|l| l.abs.clone());
        let id = abs
            .clone()
            .unwrap_or_else(|| format!("urn:paperscout:paper:{}", paper.id));
        out += &format!(
            "<entry>\n<id>{}</id>\n<title>{}</title>\n<updated>{updated}</updated>\n",
            escape(&id),
            escape(&paper.title)
        );
        if let Some(abs) = abs {
            out += &format!("<link rel=\"alternate\" href=\"{}\"/>\n", escape(&abs));
        }
        for author in &paper.authors {
            out += &format!("<author><name>{}</name></author>\n", escape(author));
        }
        for category in &paper.categories {
            out += &format!("<category term=\"{}\"/>\n", escape(category));
        }
        out += &format!(
            "<summary>{}</summary>\n<content type=\"text\">{}\n\n{}</content>\n</entry>\n",
            escape(&snippet(&paper.abstract_text, 400)),
            escape(&because_line(&entry.because)),
            escape(&paper.abstract_text)
        );
    }
    out + "</feed>\n"
}

/// The start of a text, cut at a word boundary, with an ellipsis when cut.
fn snippet(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let cut: String = text.chars().take(limit).collect();
    let at = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", &cut[..at])
}

fn write_atomically(path: &Path, content: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut staged = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write into {}", dir.display()))?;
    staged.write_all(content.as_bytes())?;
    staged.as_file().sync_all()?;
    staged
        .persist(path)
        .with_context(|| format!("could not move the digest into {}", path.display()))?;
    Ok(())
}
