//! `paperscout rerank`: every selected user against a set of candidates, offline, in groups of
//! users, with the same code as the daemon's `recommend` ([`paperscout_app::choose::Pool`], one user
//! being a group of one), so the batch's scores and order are the online ones. A paper in
//! several profiles of a group is compared with the candidates once. Resumable: after each
//! group the output is flushed to disk and a checkpoint records how far it got.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use paperscout_rank::DigestParams;
use paperscout_store::{Recommendation, SqliteStore, Store, StoredPaper, StoredRecommendations};
use serde::{Deserialize, Serialize};

use crate::cli::RerankArgs;
use paperscout_app::Settings;
use paperscout_app::choose::{Because, Pool, SharedRows, UserInput};
use paperscout_app::store_model::StoreModel;

/// One output line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ranked {
    /// Whose.
    pub user: String,
    /// Candidates this user could be offered.
    pub candidates: usize,
    /// Best first.
    pub papers: Vec<RankedPaper>,
    /// Why nothing was ranked, when so (an empty profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// One paper of a user's ranking.
#[derive(Debug, Serialize, Deserialize)]
pub struct RankedPaper {
    /// The paper's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The ranking score.
    pub score: f32,
    /// Why.
    pub because: Because,
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

fn checkpoint_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".checkpoint");
    out.with_file_name(name)
}

/// Runs the command.
pub fn run(args: &RerankArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if !["hybrid", "centroid"].contains(&args.method.as_str()) {
        bail!(
            "--method {} is not a batch method: use hybrid (that of digests and `recommend`) or \
             centroid (faster: embeddings only, no diversification)",
            args.method
        );
    }
    let path = paperscout_store::file_in(&settings.data_dir);
    let mut store = if args.store {
        SqliteStore::open(&path)?
    } else {
        SqliteStore::open_read_only(&path)?
    };
    let model = StoreModel::load(settings)?;
    let users = select_users(&store, &args.users)?;
    let started = Instant::now();
    let papers = select_candidates(&store, &args.candidates)?;
    if papers.is_empty() {
        bail!(
            "no candidates match --candidates {}: check the dates, or ingest papers first",
            args.candidates
        );
    }
    let pool = Pool::of(&store, &model, papers)?;
    tracing::info!(
        candidates = pool.len(),
        seconds = started.elapsed().as_secs_f64(),
        "candidates prepared"
    );
    let params = DigestParams {
        size: args.top,
        mmr_lambda: args.mmr_lambda,
        ..DigestParams::default()
    };
    let job = format!(
        "users={} candidates={} top={} method={} mmr_lambda={} store_users={}",
        args.users,
        args.candidates,
        args.top,
        args.method,
        args.mmr_lambda,
        users.len()
    );
    let checkpoint_file = checkpoint_path(&args.out);
    let resume = match fs_err::read_to_string(&checkpoint_file) {
        Ok(text) => {
            let checkpoint: Checkpoint = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is damaged: delete it to start over",
                    checkpoint_file.display()
                )
            })?;
            if checkpoint.job != job {
                bail!(
                    "{} belongs to another run ({}); delete it (and {}) to start this one",
                    checkpoint_file.display(),
                    checkpoint.job,
                    args.out.display()
                );
            }
            Some(checkpoint)
        }
        Err(_) => None,
    };
    let (mut done, out) = match &resume {
        Some(checkpoint) => {
            let file = fs_err::OpenOptions::new().write(true).open(&args.out)?;
            // Whatever was written after the last checkpoint is written again.
            file.set_len(checkpoint.bytes)?;
            let mut file = file;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0))?;
            if !quiet {
                eprintln!(
                    "resuming after {} of {} users",
                    checkpoint.users_done,
                    users.len()
                );
            }
            (checkpoint.users_done, file)
        }
        None => (0, fs_err::File::create(&args.out)?),
    };
    let bar = crate::progress::items(users.len() as u64, "users", quiet);
    bar.set_position(done as u64);
    let group_size = args.block_users.max(1);
    let mut out = std::io::BufWriter::new(out);
    while done < users.len() {
        let group = &users[done..(done + group_size).min(users.len())];
        // Each profile paper of the group is read (and compared with the candidates) once.
        let mut rows = SharedRows::new(model.key().dim);
        let mut inputs = Vec::with_capacity(group.len());
        let mut positions = Vec::with_capacity(group.len());
        let mut skipped = Vec::new();
        for (position, name) in group.iter().enumerate() {
            match UserInput::load(&store, &model, name, &pool, &mut rows) {
                Ok(input) => {
                    inputs.push(input);
                    positions.push(position);
                }
                Err(err @ paperscout_app::AppError::EmptyProfile(_)) => {
                    skipped.push((
                        position,
                        Ranked {
                            user: name.clone(),
                            candidates: 0,
                            papers: Vec::new(),
                            skipped: Some(err.to_string()),
                        },
                    ));
                }
                Err(err) => {
                    return Err(anyhow::Error::new(err).context(format!("reading user {name}")));
                }
            }
        }
        let mut lines = Lines {
            out: &mut out,
            store: args.store.then_some(&mut store),
            method: &args.method,
            skipped: skipped.into_iter().peekable(),
            pending: Vec::new(),
            error: None,
        };
        let mut take = |user: usize, picks: Vec<paperscout_rank::Pick>| {
            let input = &inputs[user];
            let ranked = Ranked {
                user: input.name.clone(),
                candidates: input.eligible(&pool),
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
        if args.method == "centroid" {
            for (user, picks) in pool
                .centroid_many(&rows, &inputs, args.top)
                .into_iter()
                .enumerate()
            {
                take(user, picks);
            }
        } else {
            let at = done as u64;
            let width = group.len() as u64;
            pool.choose_each(
                &rows,
                &inputs,
                &params,
                &mut |step, steps| {
                    bar.set_position(at + width * step as u64 / steps.max(1) as u64);
                },
                &mut take,
            );
        }
        lines.finish()?;
        out.flush()?;
        out.get_ref().sync_data()?;
        done += group.len();
        let checkpoint = Checkpoint {
            job: job.clone(),
            users_done: done,
            bytes: out.get_ref().metadata()?.len(),
        };
        let staged = checkpoint_file.with_extension("checkpoint.tmp");
        fs_err::write(&staged, serde_json::to_string(&checkpoint)?)?;
        fs_err::rename(&staged, &checkpoint_file)?;
        bar.set_position(done as u64);
    }
    bar.finish_and_clear();
    fs_err::remove_file(&checkpoint_file)?;
    if !quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "ranked {} users against {} candidates in {seconds:.1} s ({:.0} users/s); wrote {}",
            users.len(),
            pool.len(),
            users.len() as f64 / seconds.max(1e-9),
            args.out.display()
        );
    }
    Ok(())
}

/// The lines of a group of users, written in the users' order as their rankings arrive: the
/// users skipped (empty profiles) in their places, and into the store a chunk at a time.
struct Lines<'a, W: Write> {
    out: &'a mut W,
    store: Option<&'a mut SqliteStore>,
    method: &'a str,
    /// (position in the group, line), in order.
    skipped: std::iter::Peekable<std::vec::IntoIter<(usize, Ranked)>>,
    /// Written but not yet stored.
    pending: Vec<(String, Ranked)>,
    /// The first failure; nothing more is written after it.
    error: Option<anyhow::Error>,
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
        let written = serde_json::to_writer(&mut *self.out, &ranked)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(self.out.write_all(b"\n")?));
        if let Err(err) = written {
            self.error = Some(err);
            return;
        }
        if self.store.is_some() {
            self.pending.push((ranked.user.clone(), ranked));
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
fn store_block(store: &mut SqliteStore, lines: &[(String, Ranked)], method: &str) -> Result<()> {
    let computed = paperscout_store::now();
    let mut stored = Vec::with_capacity(lines.len());
    for (name, ranked) in lines {
        let papers = ranked
            .papers
            .iter()
            .map(|p| {
                Ok(Recommendation {
                    paper_id: p.id.clone(),
                    score: p.score,
                    because: serde_json::to_string(&p.because)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        stored.push((
            name.as_str(),
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

/// `all`, or a file of user names (one a line, `#` comments), in a fixed order.
fn select_users(store: &dyn Store, spec: &str) -> Result<Vec<String>> {
    if spec == "all" {
        return Ok(store.users()?.into_iter().map(|u| u.name).collect());
    }
    let file = fs_err::File::open(spec)
        .context("--users takes `all` or a file of user names, one a line")?;
    let mut names = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        let name = line.trim();
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if store.user(name)?.is_none() {
            bail!(
                "{spec} line {}: there is no user named {name:?}",
                number + 1
            );
        }
        names.push(name.to_owned());
    }
    Ok(names)
}

/// `all`, `since:DAY`, `until:DAY` or `ids:FILE`.
fn select_candidates(store: &dyn Store, spec: &str) -> Result<Vec<StoredPaper>> {
    const FIRST: &str = "0000-01-01";
    const LAST: &str = "9999-12-31";
    let check = |day: &str| paperscout_app::choose::parse_day(day, "--candidates").map(|_| ());
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
            let found = store.find_paper(key)?.with_context(|| {
                format!("{file} line {}: {key} is not in the store", number + 1)
            })?;
            papers.push(found);
        }
        return Ok(papers);
    }
    bail!("--candidates takes all, since:YYYY-MM-DD, until:YYYY-MM-DD or ids:FILE, not {spec:?}")
}
