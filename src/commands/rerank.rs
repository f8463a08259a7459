//! `paperscout rerank`: every selected user against a set of candidates, offline and
//! resumable ([`paperscout_app::rerank`]), with a progress bar.

use anyhow::{Context, Result, bail};
use paperscout_app::Settings;
use paperscout_app::rerank::{Event, Job};
use paperscout_app::sharded_rerank::{WorkEvent, Worker};
use paperscout_app::store_model::StoreModel;
use paperscout_app::stores::StoreLocation;
use paperscout_store::PostgresStore;

use crate::cli::RerankArgs;

/// Runs the command.
pub fn run(args: &RerankArgs, settings: &Settings, quiet: bool) -> Result<()> {
    paperscout_rank::DigestParams {
        mmr_lambda: args.mmr_lambda,
        ..paperscout_rank::DigestParams::default()
    }
    .check()
    .map_err(paperscout_app::AppError::BadSetting)?;
    let job = Job {
        users: args.users.clone(),
        candidates: args.candidates.clone(),
        top: args.top,
        method: args.method.parse()?,
        mmr_lambda: args.mmr_lambda,
        block_users: args.block_users,
        record: args.store,
    };
    if let Some(shards) = args.shards {
        return create_shards(settings, &job, shards, quiet);
    }
    if args.worker {
        return work(args, settings, quiet);
    }
    let Some(out) = args.out.as_deref() else {
        bail!("--out FILE is needed: where the rankings go");
    };
    let mut store = if args.store {
        settings.store.open()?
    } else {
        settings.store.open_read_only()?
    };
    let model = StoreModel::load(settings)?;
    let mut bar = crate::progress::items(0, "users", true);
    let done =
        paperscout_app::rerank::run(&mut store, &model, &job, out, &mut |event| match event {
            Event::Prepared {
                candidates,
                users,
                seconds,
            } => {
                tracing::info!(candidates, seconds, "candidates prepared");
                bar = crate::progress::items(users as u64, "users", quiet);
            }
            Event::Resumed { done } => {
                bar.suspend(|| {
                    if !quiet {
                        eprintln!("resuming after {done} users");
                    }
                });
            }
            Event::Position(at) => bar.set_position(at),
        })?;
    bar.finish_and_clear();
    if !quiet {
        eprintln!(
            "ranked {} users against {} candidates in {:.1} s ({:.0} users/s); wrote {}",
            done.users,
            done.candidates,
            done.seconds,
            done.users as f64 / done.seconds.max(1e-9),
            out.display()
        );
    }
    Ok(())
}

/// The PostgreSQL store that sharded runs live in, or an error that says so.
fn shared_store(settings: &Settings) -> Result<PostgresStore> {
    let StoreLocation::Postgres(url) = &settings.store else {
        bail!(
            "--shards and --worker share a re-rank between machines through a PostgreSQL store: \
             give one with --store-url (or [store] url), or run `rerank --out FILE` here"
        );
    };
    Ok(PostgresStore::open(url)?)
}

/// `rerank --shards N`.
fn create_shards(settings: &Settings, job: &Job, shards: usize, quiet: bool) -> Result<()> {
    let store = shared_store(settings)?;
    let created = paperscout_app::sharded_rerank::create(&store, job, shards)?;
    super::print(false, &created, |created| format!("{}\n", created.run))?;
    if !quiet {
        eprintln!(
            "run {}: {} users in {} shards; rank them with `paperscout rerank --worker --run {} \
             [--out FILE] [--store]` on any number of machines",
            created.run, created.users, created.shards, created.run
        );
    }
    Ok(())
}

/// `rerank --worker`.
fn work(args: &RerankArgs, settings: &Settings, quiet: bool) -> Result<()> {
    let leases = shared_store(settings)?;
    let mut data = if args.store {
        settings.store.open()?
    } else {
        settings.store.open_read_only()?
    };
    let model = StoreModel::load(settings)?;
    let scratch = tempfile::Builder::new()
        .prefix("paperscout-rerank-")
        .tempdir()
        .context("could not make a scratch folder for the shards' output")?;
    let host = paperscout_store::postgres::host_name();
    let worker = Worker {
        run: args.run,
        name: format!("{host}:{}", std::process::id()),
        lease_seconds: args.lease_seconds.max(2),
        record: args.store,
        out: args.out.as_deref(),
        scratch: scratch.path(),
    };
    let mut bar = crate::progress::items(0, "users", true);
    let worked =
        paperscout_app::sharded_rerank::work(&leases, &mut *data, &model, &worker, &mut |event| {
            match event {
                WorkEvent::Leased { shard, users } => {
                    tracing::info!(shard, users, "leased a shard");
                    bar = crate::progress::items(users as u64, "users", quiet);
                    bar.set_message(format!("shard {shard}"));
                }
                WorkEvent::Ranking(Event::Position(at)) => bar.set_position(at),
                WorkEvent::Ranking(_) => {}
                WorkEvent::Finished { shard, kept } => {
                    bar.finish_and_clear();
                    if !kept {
                        tracing::warn!(
                            shard,
                            "the shard's lease was lost; another worker ranks it"
                        );
                    }
                }
                WorkEvent::Waiting { done, shards } => {
                    tracing::debug!(done, shards, "waiting for shards other workers hold");
                }
            }
        })?;
    if !quiet {
        eprintln!(
            "run {}: this worker ranked {} shards ({} users); every shard is done{}",
            worked.run,
            worked.shards,
            worked.users,
            match (&args.out, worked.merged) {
                (Some(out), true) => format!("; merged output in {}", out.display()),
                _ => String::new(),
            }
        );
    }
    Ok(())
}
