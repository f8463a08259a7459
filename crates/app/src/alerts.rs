//! Scoop alerts: the day a paper lands close to a text a user watches (a draft's abstract,
//! their own preprint), it is mailed to them at once, out of the daily cycle, beside the text
//! it is close to.
//!
//! An alert is sent like a digest: its message is queued in the transaction that records its
//! papers as sent ([`Store::record_sent_with_mail`]), and delivered by the same outbox. So a
//! paper is alerted once per user, whatever crashes, and is not offered again in a digest.
//! Users without an e-mail address get no alert: such a paper reaches them in their next
//! digest, as any other.

use std::collections::HashSet;
use std::fmt::Write as _;

use lettre::message::Mailbox;
use paperscout_store::{NewMail, Store};
use paperscout_types::{Paper, Watch};
use serde::{Deserialize, Serialize};

use crate::choose::TextEmbedder;
use crate::error::{AppError, Result};
use crate::mail::{Mailer, build, id_safe};

/// A new paper and the watched text it is close to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The new paper.
    pub paper: Paper,
    /// The watch's label.
    pub label: String,
    /// The watched text.
    pub watched: String,
    /// Their cosine.
    pub similarity: f32,
}

/// What one user is alerted of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The user.
    pub user: String,
    /// Their address.
    pub recipient: String,
    /// The papers, closest first.
    pub matches: Vec<Match>,
}

/// Every watch of the users who can be alerted (those with an e-mail address), with its
/// text embedded: made once for a batch of new papers.
pub struct Watches {
    users: Vec<Watcher>,
}

/// A user who can be alerted: name, address, and each watch with its text's vector.
struct Watcher {
    user: String,
    recipient: String,
    watches: Vec<(Watch, Vec<f32>)>,
}

impl Watches {
    /// Reads the users' watches and embeds their texts in one call.
    pub fn load(store: &dyn Store, model: &dyn TextEmbedder) -> Result<Self> {
        let mut found = Vec::new();
        let mut texts = Vec::new();
        for user in store.users()? {
            let settings = user.settings;
            if let (Some(email), false) = (settings.email, settings.watches.is_empty()) {
                texts.extend(settings.watches.iter().map(|w| w.text.clone()));
                found.push((user.name, email, settings.watches));
            }
        }
        let mut vectors = if texts.is_empty() {
            Vec::new()
        } else {
            model.embed_texts(&texts).map_err(AppError::Embedding)?
        }
        .into_iter();
        let users = found
            .into_iter()
            .map(|(user, recipient, watches)| Watcher {
                user,
                recipient,
                watches: watches.into_iter().zip(vectors.by_ref()).collect(),
            })
            .collect();
        Ok(Self { users })
    }

    /// Whether no user watches anything (then no paper needs a look).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The alerts `papers` (new, each with its unit vector) raise: for each user, the papers
    /// at or above a watch's threshold that were never sent to them nor rated by them, each
    /// with the watch it is closest to.
    pub fn alerts(&self, store: &dyn Store, papers: &[(&Paper, &[f32])]) -> Result<Vec<Alert>> {
        keep_unseen(store, self.matches(papers))
    }

    /// For each user, the papers at or above a watch's threshold, each with the watch it is
    /// closest to, whether or not the user has seen them.
    fn matches(&self, papers: &[(&Paper, &[f32])]) -> Vec<Alert> {
        let mut alerts = Vec::new();
        for Watcher {
            user,
            recipient,
            watches,
        } in &self.users
        {
            let mut matches: Vec<Match> = Vec::new();
            for &(paper, vector) in papers {
                let best = watches
                    .iter()
                    .map(|(watch, watched)| (watch, paperscout_linalg::dot(vector, watched)))
                    .filter(|(watch, similarity)| *similarity >= watch.threshold)
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((watch, similarity)) = best {
                    matches.push(Match {
                        paper: paper.clone(),
                        label: watch.label.clone(),
                        watched: watch.text.clone(),
                        similarity,
                    });
                }
            }
            if !matches.is_empty() {
                alerts.push(Alert {
                    user: user.clone(),
                    recipient: recipient.clone(),
                    matches,
                });
            }
        }
        alerts
    }
}

/// The papers of a committed batch that got a new vector, each with it: those an alert may
/// be raised for (a paper unchanged or not embedded now raises none).
pub fn fresh<'a>(
    papers: &'a [Paper],
    vectors: &'a [Option<Vec<f32>>],
) -> Vec<(&'a Paper, &'a [f32])> {
    papers
        .iter()
        .zip(vectors)
        .filter_map(|(paper, vector)| Some((paper, vector.as_deref()?)))
        .collect()
}

/// The alerts with only the papers never sent to their user nor rated by them (each paper
/// once), closest first; alerts left empty dropped.
fn keep_unseen(store: &dyn Store, alerts: Vec<Alert>) -> Result<Vec<Alert>> {
    let mut kept = Vec::with_capacity(alerts.len());
    for mut alert in alerts {
        let mut seen: HashSet<String> = store.sent(&alert.user)?.into_iter().collect();
        seen.extend(store.feedback(&alert.user)?.into_iter().map(|f| f.paper_id));
        alert.matches.retain(|m| seen.insert(m.paper.id.clone()));
        if !alert.matches.is_empty() {
            alert
                .matches
                .sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
            kept.push(alert);
        }
    }
    Ok(kept)
}

/// Scoop alerts for an ingest that holds the store's writer from start to end (the command
/// line's, which cannot write while the ingest holds the store): each committed batch's
/// matches are kept, one alert per user, and when the ingest ends those never sent or rated
/// are queued and delivered.
pub struct Pending {
    watches: Watches,
    mailer: Mailer,
    found: Vec<Alert>,
}

impl Pending {
    /// The watches of the users who can be alerted; none when e-mail is not set up or nobody
    /// with an address watches anything.
    pub fn load(
        store: &dyn Store,
        model: &dyn TextEmbedder,
        mail: &crate::mail::MailConfig,
    ) -> Result<Option<Self>> {
        if mail.smtp_host.is_none() {
            return Ok(None);
        }
        let mailer = Mailer::new(mail)?;
        let watches = Watches::load(store, model)?;
        Ok((!watches.is_empty()).then(|| Self {
            watches,
            mailer,
            found: Vec::new(),
        }))
    }

    /// Keeps the matches of a committed batch: its papers, each with its new vector (none for
    /// a paper not embedded now, which raises no alert).
    pub fn observe(&mut self, papers: &[Paper], vectors: &[Option<Vec<f32>>]) {
        let fresh = fresh(papers, vectors);
        for alert in self.watches.matches(&fresh) {
            match self.found.iter_mut().find(|a| a.user == alert.user) {
                Some(known) => known.matches.extend(alert.matches),
                None => self.found.push(alert),
            }
        }
    }

    /// Queues the alerts of papers the users have not seen (see [`queue`]) and delivers the
    /// queue; a server that refuses leaves them queued for the next delivery. Returns the
    /// papers alerted and the deliveries that failed.
    pub fn send(self, store: &mut dyn Store, now: i64) -> Result<(usize, crate::mail::Delivery)> {
        let alerts = keep_unseen(&*store, self.found)?;
        let queued = queue(store, &self.mailer, &alerts, now)?;
        let delivery = crate::mail::deliver_queued(store, &self.mailer)?;
        Ok((queued, delivery))
    }
}

/// Queues each alert's message in the transaction that records its papers as sent to the
/// user (one transaction an alert). Returns the papers recorded. `store` must be the only
/// writer from [`Watches::alerts`] to here, or a digest could send a paper in between.
pub fn queue(store: &mut dyn Store, mailer: &Mailer, alerts: &[Alert], now: i64) -> Result<usize> {
    let day = chrono::DateTime::from_timestamp(now, 0)
        .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string());
    let mut recorded = 0;
    for alert in alerts {
        let message = compose(alert, mailer.from(), now)?;
        let ids: Vec<&str> = alert.matches.iter().map(|m| m.paper.id.as_str()).collect();
        let mail = NewMail {
            channel: paperscout_store::Channel::Email,
            day: &day,
            recipient: &alert.recipient,
            message: &message,
        };
        recorded += store
            .record_sent_with_mail(&alert.user, &ids, now, &mail)?
            .0;
    }
    Ok(recorded)
}

/// The alert as an e-mail: each new paper beside the watched text it is close to.
pub fn compose(alert: &Alert, from: &Mailbox, now: i64) -> Result<Vec<u8>> {
    let to: Mailbox = alert.recipient.parse().map_err(|err| {
        AppError::BadSetting(format!(
            "{:?} is not an e-mail address ({err}): fix it with `paperscout user set {} --email ADDRESS`",
            alert.recipient, alert.user
        ))
    })?;
    let first = &alert.matches[0];
    let subject = if alert.matches.len() == 1 {
        format!("paperscout alert: a new paper close to {}", first.label)
    } else {
        format!(
            "paperscout alert: {} new papers close to your watched texts",
            alert.matches.len()
        )
    };
    let message_id = format!("alert.{}.{now}", id_safe(&alert.user));
    build(from, to, &subject, &message_id, plain(alert), html(alert))
}

fn plain(alert: &Alert) -> String {
    let mut out = String::new();
    for m in &alert.matches {
        let paper = &m.paper;
        let _ = write!(
            out,
            "A new paper is close to what you watch as \"{}\" (cosine {:.2}).\n\n\
             NEW: {}\n{}\n{}\n\n{}\n\nYOURS ({}):\n{}\n\n----\n\n",
            m.label,
            m.similarity,
            paper.title,
            paper.authors.join(", "),
            link(paper),
            paper.abstract_text,
            m.label,
            m.watched
        );
    }
    out + "You get this because you watch these texts: `paperscout user unwatch` stops it.\n"
}

fn html(alert: &Alert) -> String {
    let esc = |text: &str| quick_xml::escape::escape(text).into_owned();
    let mut out =
        String::from("<!DOCTYPE html><html><body style=\"font-family:sans-serif;max-width:60em\">");
    for m in &alert.matches {
        let paper = &m.paper;
        let _ = write!(
            out,
            "<p>A new paper is close to what you watch as <b>{}</b> (cosine {:.2}).</p>\
             <table cellpadding=\"8\" style=\"border-collapse:collapse\"><tr>\
             <th align=\"left\">New: <a href=\"{}\">{}</a></th><th align=\"left\">Yours: {}</th></tr>\
             <tr valign=\"top\"><td style=\"border:1px solid #ccc\"><i>{}</i><br>{}</td>\
             <td style=\"border:1px solid #ccc\">{}</td></tr></table><hr>",
            esc(&m.label),
            m.similarity,
            esc(&link(paper)),
            esc(&paper.title),
            esc(&m.label),
            esc(&paper.authors.join(", ")),
            esc(&paper.abstract_text),
            esc(&m.watched)
        );
    }
    out + "<p style=\"color:#666\">You get this because you watch these texts: \
           <code>paperscout user unwatch</code> stops it.</p></body></html>"
}

/// Where the paper can be read: its arXiv page, its DOI, else its id.
fn link(paper: &Paper) -> String {
    match (&paper.arxiv_id, &paper.doi) {
        (Some(id), _) => format!("https://arxiv.org/abs/{id}"),
        (None, Some(doi)) => format!("https://doi.org/{doi}"),
        (None, None) => paper.id.clone(),
    }
}

#[cfg(test)]
mod tests {
    use paperscout_types::UserSettings;

    use super::*;
    use crate::testing::{self, Words};

    fn watching(store: &mut dyn Store, user: &str, email: Option<&str>, text: &str) {
        if store.user(user).expect("read").is_none() {
            store.add_user(user, 1).expect("added");
        }
        let settings = UserSettings {
            email: email.map(str::to_owned),
            watches: vec![Watch {
                label: "draft.txt".to_owned(),
                text: text.to_owned(),
                threshold: 0.8,
            }],
            ..UserSettings::default()
        };
        store.set_user_settings(user, &settings).expect("set");
    }

    fn new_papers(store: &dyn Store) -> Vec<(Paper, Vec<f32>)> {
        store
            .papers_announced("2025-03-18", "2025-03-18")
            .expect("read")
            .into_iter()
            .map(|stored| {
                let vector = Words::vector(&stored.paper.embedding_text());
                (stored.paper, vector)
            })
            .collect()
    }

    #[test]
    fn a_close_paper_alerts_once_and_only_users_with_an_address() {
        let mut store = testing::store();
        let model = Words::new();
        let draft = "Graph networks for molecular property prediction\nMessage passing graph networks on molecules.";
        watching(&mut store, "ada", Some("ada@example.org"), draft);
        watching(&mut store, "bob", None, draft);
        let papers = new_papers(&store);
        let refs: Vec<(&Paper, &[f32])> = papers.iter().map(|(p, v)| (p, v.as_slice())).collect();
        let watches = Watches::load(&store, &model).expect("loaded");
        let alerts = watches.alerts(&store, &refs).expect("found");
        assert_eq!(alerts.len(), 1, "bob has no address");
        let alert = &alerts[0];
        assert_eq!(alert.user, "ada");
        assert_eq!(alert.matches[0].paper.id, "arXiv:2503.10001");
        assert!(alert.matches[0].similarity > 0.99);
        assert!(
            alert.matches.iter().all(|m| m.similarity >= 0.8),
            "{alerts:?}"
        );
        assert!(
            !alert
                .matches
                .iter()
                .any(|m| m.paper.id == "arXiv:2503.10006"),
            "robots are far from molecules"
        );

        let message = compose(
            alert,
            &"paperscout <ps@example.org>".parse().expect("a mailbox"),
            7,
        )
        .expect("composed");
        let text = String::from_utf8_lossy(&message);
        assert!(text.contains("Subject: paperscout alert"), "{text}");
        assert!(text.contains("YOURS (draft.txt)"), "{text}");

        // Recorded as sent: the same papers raise nothing again.
        let ids: Vec<&str> = alert.matches.iter().map(|m| m.paper.id.as_str()).collect();
        store.record_sent("ada", &ids, 8).expect("recorded");
        assert!(watches.alerts(&store, &refs).expect("found").is_empty());
    }

    #[test]
    fn a_far_text_or_no_watch_raises_nothing() {
        let mut store = testing::store();
        let model = Words::new();
        assert!(Watches::load(&store, &model).expect("loaded").is_empty());
        watching(
            &mut store,
            "ada",
            Some("ada@example.org"),
            "Quantum error correction codes",
        );
        let papers = new_papers(&store);
        let refs: Vec<(&Paper, &[f32])> = papers.iter().map(|(p, v)| (p, v.as_slice())).collect();
        let watches = Watches::load(&store, &model).expect("loaded");
        assert!(watches.alerts(&store, &refs).expect("found").is_empty());
    }
}
