//! `paperscout rerank`: every selected user against a set of candidates, offline and
//! resumable ([`paperscout_app::rerank`]), with a progress bar.

use anyhow::Result;
use paperscout_app::Settings;
use paperscout_app::rerank::{Event, Job};
use paperscout_app::store_model::StoreModel;

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
    let mut store = if args.store {
        settings.store.open()?
    } else {
        settings.store.open_read_only()?
    };
    let model = StoreModel::load(settings)?;
    let mut bar = crate::progress::items(0, "users", true);
    let done =
        paperscout_app::rerank::run(
            &mut store,
            &model,
            &job,
            &args.out,
            &mut |event| match event {
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
            },
        )?;
    bar.finish_and_clear();
    if !quiet {
        eprintln!(
            "ranked {} users against {} candidates in {:.1} s ({:.0} users/s); wrote {}",
            done.users,
            done.candidates,
            done.seconds,
            done.users as f64 / done.seconds.max(1e-9),
            args.out.display()
        );
    }
    Ok(())
}
