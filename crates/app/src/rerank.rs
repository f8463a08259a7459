//! Batch re-ranking: every selected user against a set of candidates, offline, in groups of
//! users, with the code of the daemon's `recommend` ([`Pool`], one user being a group of one),
//! so a batch's scores and order are the online ones. A paper in several profiles of a group
//! is compared with the candidates once. Resumable: after each group the output is flushed to
//! disk and a checkpoint beside it records how far the run got.

use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use paperscout_rank::DigestParams;
use paperscout_store::{Recommendation, Store, StoredPaper, StoredRecommendations};
use serde::{Deserialize, Serialize};

use crate::choose::{Because, Pool, SharedRows, TextEmbedder, UserInput};
use crate::{AppError, Result};

/// One output line: a user's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    /// The user ranked.
    pub user: String,
    /// Candidates this user could be offered (not sent, rated or in the profile already).
    pub candidates: usize,
    /// Best first.
    pub papers: Vec<RankedPaper>,
    /// Why nothing was ranked, when so (an empty profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One paper of a user's ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedPaper {
    /// The paper's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The ranking score.
    pub score: f32,
    /// The profile item it is nearest, and the terms they share.
    pub because: Because,
}

/// The ways a batch can rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMethod {
    /// That of digests and `recommend`: embeddings and terms, dislikes, diversity.
    Hybrid,
    /// Embeddings only, each user's mean item, no diversification: many times faster.
    Centroid,
}

impl BatchMethod {
    /// The method's name, as `--method` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Centroid => "centroid",
        }
    }
}

impl FromStr for BatchMethod {
    type Err = AppError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "hybrid" => Ok(Self::Hybrid),
            "centroid" => Ok(Self::Centroid),
            other => Err(AppError::Usage(format!(
                "--method {other} is not a batch method: use hybrid (that of digests and \
                 `recommend`) or centroid (faster: embeddings only, no diversification)"
            ))),
        }
    }
}

/// What a batch is asked for.
#[derive(Debug, Clone)]
pub struct Job {
    /// `all`, or a file of user names (see [`select_users`]).
    pub users: String,
    /// `all`, `since:DAY`, `until:DAY` or `ids:FILE` (see [`select_candidates`]).
    pub candidates: String,
    /// Papers per user.
    pub top: usize,
    /// How to rank.
    pub method: BatchMethod,
    /// Diversity for [`BatchMethod::Hybrid`]: 1 ranks by relevance alone.
    pub mmr_lambda: f32,
    /// Users ranked together; a killed run resumes after the last whole group.
    pub block_users: usize,
    /// Also store each ranking as the user's current recommendations.
    pub record: bool,
}

/// What a running batch tells its caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// The candidates are ready: how many, and how long they took.
    Prepared {
        /// Candidates.
        candidates: usize,
        /// Users to rank.
        users: usize,
        /// Seconds to read (and embed what lacked a vector).
        seconds: f64,
    },
    /// A checkpoint was found: this many users are done already.
    Resumed {
        /// Users written by the earlier run.
        done: usize,
    },
    /// Users ranked so far (fractional within a group).
    Position(u64),
}

/// What a finished batch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Done {
    /// Users written.
    pub users: usize,
    /// Candidates they were ranked against.
    pub candidates: usize,
    /// Wall time, candidates included.
    pub seconds: f64,
}

/// How far a run got: what a resumed run checks and continues from.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Checkpoint {
    /// What the run was asked for; a resumed run must ask for the same.
    job: String,
    /// Users written, in order.
    users_done: usize,
    /// Bytes of output they took.
    bytes: u64,
}

/// The checkpoint file of an output: `OUT.checkpoint` beside it.
pub fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".checkpoint");
    out.with_file_name(name)
}

/// Ranks the job's users into `out` (JSON lines, in the users' order), resuming from its
/// checkpoint when one is there.
pub fn run(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    job: &Job,
    out: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<Done> {
    let users = select_users(&*store, &job.users)?;
    run_users(store, model, job, &users, out, events)
}

/// [`run`] for users already chosen (a shard's), in their order; `job.users` only names them
/// in the checkpoint.
pub fn run_users(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    job: &Job,
    users: &[String],
    out: &Path,
    events: &mut dyn FnMut(Event),
) -> Result<Done> {
    let started = Instant::now();
    let papers = select_candidates(&*store, &job.candidates)?;
    if papers.is_empty() {
        return Err(AppError::Usage(format!(
            "no candidates match --candidates {}: check the dates, or ingest papers first",
            job.candidates
        )));
    }
    let pool = Pool::of(&*store, model, papers)?;
    events(Event::Prepared {
        candidates: pool.len(),
        users: users.len(),
        seconds: started.elapsed().as_secs_f64(),
    });
    let params = DigestParams {
        size: job.top,
        mmr_lambda: job.mmr_lambda,
        ..DigestParams::default()
    };
    let description = format!(
        "users={} candidates={} top={} method={} mmr_lambda={} store_users={}",
        job.users,
        job.candidates,
        job.top,
        job.method.name(),
        job.mmr_lambda,
        users.len()
    );
    let checkpoint_file = checkpoint_path(out);
    let resume = read_checkpoint(&checkpoint_file, &description, out)?;
    let (mut done, file) = match &resume {
        Some(checkpoint) => {
            let mut file = fs_err::OpenOptions::new().write(true).open(out)?;
            // Whatever was written after the last checkpoint is written again.
            file.set_len(checkpoint.bytes)?;
            file.seek(std::io::SeekFrom::End(0))?;
            events(Event::Resumed {
                done: checkpoint.users_done,
            });
            (checkpoint.users_done, file)
        }
        None => (0, fs_err::File::create(out)?),
    };
    events(Event::Position(done as u64));
    let group_size = job.block_users.max(1);
    let mut file = std::io::BufWriter::new(file);
    while done < users.len() {
        let group = &users[done..(done + group_size).min(users.len())];
        rank_group(
            &mut *store,
            model,
            &pool,
            group,
            job,
            &params,
            done,
            &mut file,
            events,
        )?;
        file.flush()?;
        file.get_ref().sync_data()?;
        done += group.len();
        let checkpoint = Checkpoint {
            job: description.clone(),
            users_done: done,
            bytes: file.get_ref().metadata()?.len(),
        };
        let staged = checkpoint_file.with_extension("checkpoint.tmp");
        fs_err::write(&staged, json(&checkpoint)?)?;
        fs_err::rename(&staged, &checkpoint_file)?;
        events(Event::Position(done as u64));
    }
    fs_err::remove_file(&checkpoint_file)?;
    Ok(Done {
        users: users.len(),
        candidates: pool.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn json(value: &impl Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|source| AppError::Json {
        what: "writing a batch ranking".to_owned(),
        source,
    })
}

fn read_checkpoint(file: &Path, description: &str, out: &Path) -> Result<Option<Checkpoint>> {
    let Ok(text) = fs_err::read_to_string(file) else {
        return Ok(None);
    };
    let checkpoint: Checkpoint = serde_json::from_str(&text).map_err(|_| {
        AppError::Usage(format!(
            "{} is damaged: delete it to start over",
            file.display()
        ))
    })?;
    if checkpoint.job != description {
        return Err(AppError::Usage(format!(
            "{} belongs to another run ({}); delete it (and {}) to start this one",
            file.display(),
            checkpoint.job,
            out.display()
        )));
    }
    Ok(Some(checkpoint))
}

/// Ranks one group of users and writes their lines (and stores them, when asked).
#[allow(clippy::too_many_arguments)]
fn rank_group(
    store: &mut dyn Store,
    model: &dyn TextEmbedder,
    pool: &Pool,
    group: &[String],
    job: &Job,
    params: &DigestParams,
    done: usize,
    out: &mut impl Write,
    events: &mut dyn FnMut(Event),
) -> Result<()> {
    // Each profile paper of the group is read (and compared with the candidates) once.
    let mut rows = SharedRows::new(model.key().dim);
    let mut inputs = Vec::with_capacity(group.len());
    let mut positions = Vec::with_capacity(group.len());
    let mut skipped = Vec::new();
    for (position, name) in group.iter().enumerate() {
        match UserInput::load(&*store, model, name, pool, &mut rows) {
            Ok(input) => {
                inputs.push(input);
                positions.push(position);
            }
            Err(err @ AppError::EmptyProfile(_)) => skipped.push((
                position,
                Ranked {
                    user: name.clone(),
                    candidates: 0,
                    papers: Vec::new(),
                    skipped: Some(err.to_string()),
                },
            )),
            Err(err) => return Err(err),
        }
    }
    let mut lines = Lines {
        out,
        store: job.record.then_some(store),
        method: job.method.name(),
        skipped: skipped.into_iter().peekable(),
        pending: Vec::new(),
        error: None,
    };
    let mut take = |user: usize, picks: Vec<paperscout_rank::Pick>| {
        let input = &inputs[user];
        let ranked = Ranked {
            user: input.name.clone(),
            candidates: input.eligible(pool),
            papers: picks
                .into_iter()
                .map(|pick| {
                    let paper = &pool.paper(pick.candidate).paper;
                    RankedPaper {
                        id: paper.id.clone(),
                        title: paper.title.clone(),
                        score: pick.score,
                        because: input.because(pick),
                    }
                })
                .collect(),
            skipped: None,
        };
        lines.push(positions[user], ranked);
    };
    match job.method {
        BatchMethod::Centroid => {
            for (user, picks) in pool
                .centroid_many(&rows, &inputs, job.top)
                .into_iter()
                .enumerate()
            {
                take(user, picks);
            }
        }
        BatchMethod::Hybrid => {
            let at = done as u64;
            let width = group.len() as u64;
            pool.choose_each(
                &rows,
                &inputs,
                params,
                &mut |step, steps| {
                    events(Event::Position(
                        at + width * step as u64 / steps.max(1) as u64,
                    ));
                },
                &mut take,
            );
        }
    }
    lines.finish()
}

/// The lines of a group of users, written in the users' order as their rankings arrive: the
/// users skipped (empty profiles) in their places, and into the store a chunk at a time.
struct Lines<'a, W: Write> {
    out: &'a mut W,
    store: Option<&'a mut dyn Store>,
    method: &'a str,
    /// (position in the group, line), in order.
    skipped: std::iter::Peekable<std::vec::IntoIter<(usize, Ranked)>>,
    /// Written but not yet stored.
    pending: Vec<Ranked>,
    /// The first failure; nothing more is written after it.
    error: Option<AppError>,
}

/// Users whose rankings go into the store in one transaction.
const STORE_CHUNK: usize = 4096;

impl<W: Write> Lines<'_, W> {
    /// The ranking of the user at `position` in the group.
    fn push(&mut self, position: usize, ranked: Ranked) {
        while let Some((_, line)) = self.skipped.next_if(|(at, _)| *at < position) {
            self.write(line);
        }
        self.write(ranked);
    }

    fn write(&mut self, ranked: Ranked) {
        if self.error.is_some() {
            return;
        }
        let written = json(&ranked).and_then(|line| {
            self.out.write_all(line.as_bytes())?;
            Ok(self.out.write_all(b"\n")?)
        });
        if let Err(err) = written {
            self.error = Some(err);
            return;
        }
        if self.store.is_some() {
            self.pending.push(ranked);
            if self.pending.len() >= STORE_CHUNK {
                self.store_pending();
            }
        }
    }

    fn store_pending(&mut self) {
        if let Some(store) = self.store.as_deref_mut()
            && self.error.is_none()
            && let Err(err) = store_block(store, &self.pending, self.method)
        {
            self.error = Some(err);
        }
        self.pending.clear();
    }

    /// Writes the users skipped after the last ranking and stores what is pending.
    fn finish(mut self) -> Result<()> {
        while let Some((_, line)) = self.skipped.next() {
            self.write(line);
        }
        self.store_pending();
        self.error.map_or(Ok(()), Err)
    }
}

/// A block's rankings as the users' current recommendations, in one transaction.
fn store_block(store: &mut dyn Store, lines: &[Ranked], method: &str) -> Result<()> {
    let computed = paperscout_store::now();
    let mut stored = Vec::with_capacity(lines.len());
    for ranked in lines {
        let papers = ranked
            .papers
            .iter()
            .map(|p| {
                Ok(Recommendation {
                    paper_id: p.id.clone(),
                    score: p.score,
                    because: json(&p.because)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        stored.push((
            ranked.user.as_str(),
            StoredRecommendations {
                method: method.to_owned(),
                computed,
                papers,
            },
        ));
    }
    let refs: Vec<(&str, &StoredRecommendations)> =
        stored.iter().map(|(name, s)| (*name, s)).collect();
    store.set_recommendations(&refs)?;
    Ok(())
}

/// A user's ranking as the last `rerank --store` kept it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRanking {
    /// The user.
    pub user: String,
    /// The method that ranked.
    pub method: String,
    /// When, in seconds since 1970.
    pub computed: i64,
    /// The best `n` papers, best first.
    pub papers: Vec<RankedPaper>,
}

/// The best `n` papers of `user`'s stored ranking.
pub fn stored_ranking(store: &dyn Store, user: &str, n: usize) -> Result<StoredRanking> {
    let stored = store
        .recommendations(user)?
        .ok_or_else(|| AppError::NoStoredRanking(user.to_owned()))?;
    let mut papers = Vec::new();
    for paper in stored.papers.iter().take(n) {
        papers.push(RankedPaper {
            id: paper.paper_id.clone(),
            title: store
                .paper(&paper.paper_id)?
                .map(|p| p.paper.title)
                .unwrap_or_default(),
            score: paper.score,
            because: serde_json::from_str(&paper.because).map_err(|source| AppError::Json {
                what: format!("reading {user}'s stored ranking"),
                source,
            })?,
        });
    }
    Ok(StoredRanking {
        user: user.to_owned(),
        method: stored.method,
        computed: stored.computed,
        papers,
    })
}

/// `all`, or a file of user names (one a line, `#` comments), in a fixed order.
pub fn select_users(store: &dyn Store, spec: &str) -> Result<Vec<String>> {
    if spec == "all" {
        return Ok(store.users()?.into_iter().map(|u| u.name).collect());
    }
    let file = fs_err::File::open(spec).map_err(|err| {
        AppError::io(
            "--users takes `all` or a file of user names, one a line",
            err,
        )
    })?;
    let mut names = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if store.user(name)?.is_none() {
            return Err(AppError::Usage(format!(
                "{spec} line {}: there is no user named {name:?}",
                number + 1
            )));
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// `all`, `since:DAY`, `until:DAY` or `ids:FILE` (arXiv ids or DOIs, one a line).
pub fn select_candidates(store: &dyn Store, spec: &str) -> Result<Vec<StoredPaper>> {
    const FIRST: &str = "0000-01-01";
    const LAST: &str = "9999-12-31";
    let check = |day: &str| crate::choose::parse_day(day, "--candidates").map(|_| ());
    if spec == "all" {
        return Ok(store.papers_announced(FIRST, LAST)?);
    }
    if let Some(day) = spec.strip_prefix("since:") {
        check(day)?;
        return Ok(store.papers_announced(day, LAST)?);
    }
    if let Some(day) = spec.strip_prefix("until:") {
        check(day)?;
        return Ok(store.papers_announced(FIRST, day)?);
    }
    if let Some(file) = spec.strip_prefix("ids:") {
        let text = fs_err::read_to_string(file)?;
        let mut papers = Vec::new();
        for (number, key) in text.lines().map(str::trim).enumerate() {
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            let found = store.find_paper(key)?.ok_or_else(|| {
                AppError::Usage(format!(
                    "{file} line {}: {key} is not in the store",
                    number + 1
                ))
            })?;
            papers.push(found);
        }
        return Ok(papers);
    }
    Err(AppError::Usage(format!(
        "--candidates takes all, since:YYYY-MM-DD, until:YYYY-MM-DD or ids:FILE, not {spec:?}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Words, store as seeded};
    use paperscout_store::{MemoryStore, ProfileItem, ProfileSubject};

    /// ada (graphs), bob (diffusion) and eve, whose profile is empty.
    fn seeded_store(_: &Words) -> MemoryStore {
        let mut store = seeded();
        store.add_user("bob", 1).expect("bob");
        store
            .add_profile_item(
                "bob",
                &ProfileItem {
                    subject: ProfileSubject::Interest("diffusion models for images".to_owned()),
                    weight: 1.0,
                    added: 1,
                },
            )
            .expect("bob's interest");
        store.add_user("eve", 1).expect("eve");
        store
    }

    fn job(method: BatchMethod, block_users: usize) -> Job {
        Job {
            users: "all".to_owned(),
            candidates: "all".to_owned(),
            top: 2,
            method,
            mmr_lambda: 0.7,
            block_users,
            record: true,
        }
    }

    fn lines(path: &Path) -> Vec<Ranked> {
        fs_err::read_to_string(path)
            .expect("output")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a ranking"))
            .collect()
    }

    #[test]
    fn groups_of_any_size_rank_alike_and_the_rankings_are_stored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let words = Words::new();
        let mut outputs = Vec::new();
        for block in [1, 100] {
            let mut store = seeded_store(&words);
            let out = dir.path().join(format!("ranked-{block}.jsonl"));
            let done = run(
                &mut store,
                &words,
                &job(BatchMethod::Hybrid, block),
                &out,
                &mut |_| {},
            )
            .expect("ranked");
            assert!(done.users > 0 && done.candidates > 0);
            assert!(
                !checkpoint_path(&out).exists(),
                "a finished run leaves no checkpoint"
            );
            let ranked = lines(&out);
            assert_eq!(ranked.len(), 3);
            assert!(ranked[2].skipped.is_some() || ranked.iter().any(|r| r.skipped.is_some()));
            let bob = ranked.iter().find(|r| r.user == "bob").expect("bob");
            assert_eq!(bob.papers[0].id, "arXiv:2503.10004", "bob likes diffusion");
            let first = ranked
                .iter()
                .find(|r| !r.papers.is_empty())
                .expect("someone ranked");
            let stored = store
                .recommendations(&first.user)
                .expect("read")
                .expect("stored");
            assert_eq!(stored.papers.len(), first.papers.len());
            assert_eq!(stored.papers[0].paper_id, first.papers[0].id);
            let kept = stored_ranking(&store, &first.user, 1).expect("stored ranking");
            assert_eq!(kept.papers, first.papers[..1]);
            outputs.push(ranked);
        }
        assert_eq!(outputs[0], outputs[1]);
    }

    #[test]
    fn a_checkpoint_of_another_job_is_refused_and_bad_specs_say_what_is_wanted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let words = Words::new();
        let mut store = seeded_store(&words);
        let out = dir.path().join("ranked.jsonl");
        fs_err::write(
            checkpoint_path(&out),
            r#"{"job":"users=other","users_done":1,"bytes":0}"#,
        )
        .expect("write");
        let err = run(
            &mut store,
            &words,
            &job(BatchMethod::Centroid, 10),
            &out,
            &mut |_| {},
        )
        .expect_err("another job");
        assert!(err.to_string().contains("another run"), "{err}");
        assert!(select_candidates(&store, "yesterday").is_err());
        assert!("svm".parse::<BatchMethod>().is_err());
    }
}
