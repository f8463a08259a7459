//! `paperscout similar` and `paperscout recommend`: asked of the running daemon, or, without
//! one, answered here by the same service code the daemon runs.

use std::io::Write;

use anyhow::Result;
use paperscout_app::Settings;
use paperscout_app::choose::Digest;
use paperscout_app::facets::{FacetEdit, setting_for};
use paperscout_app::users::SettingsChange;
use paperscout_daemon::service::{Service, ServiceOptions};
use paperscout_proto::tables::{recommendations, similar_table, why_not_text};
use paperscout_proto::{
    BacktestRequest, Client, FacetsRequest, Op, QueryKind, RecommendRequest, SimilarAnswer,
    SimilarRequest, UserAction, UserRequest, WhyNotRequest,
};
use paperscout_types::FacetMode;

use crate::cli::{QueryBy, RecommendArgs, SimilarArgs, UserCommand, WhyNotArgs};

/// Sends the request to the daemon when one runs; else opens the service here and has
/// `local` answer it with the same operation the daemon runs.
fn ask<O: Op>(
    settings: &Settings,
    request: O,
    local: impl FnOnce(&Service, &O) -> paperscout_daemon::Result<O::Answer>,
) -> Result<O::Answer> {
    if paperscout_daemon::running(settings) {
        return Ok(Client::new(&settings.socket).call(request)?);
    }
    tracing::info!("no daemon on {}: answering here", settings.socket.display());
    let service = Service::open(
        settings,
        ServiceOptions {
            model_queue: 16,
            ..ServiceOptions::from_settings(settings)
        },
    )?;
    let answer = local(&service, &request);
    // Whatever the request changed in the index is saved, as the daemon would.
    service.persist()?;
    Ok(answer?)
}

/// Runs `paperscout similar`.
pub fn similar(args: &SimilarArgs, settings: &Settings) -> Result<()> {
    let request = SimilarRequest {
        query: args.query.join(" "),
        by: match args.by {
            QueryBy::Auto => QueryKind::Auto,
            QueryBy::Paper => QueryKind::Paper,
            QueryBy::Title => QueryKind::Title,
            QueryBy::Text => QueryKind::Text,
        },
        k: args.k,
        since: args.since.clone(),
        until: args.until.clone(),
        categories: args.categories.clone(),
    };
    let answer: SimilarAnswer = ask(settings, request, Service::similar)?;
    super::print(args.json, &answer, similar_table)
}

/// Runs `paperscout recommend`.
pub fn recommend(args: &RecommendArgs, settings: &Settings) -> Result<()> {
    if args.stored {
        return stored(args, settings);
    }
    let request = RecommendRequest {
        user: args.user.clone(),
        n: args.n,
        date: args.date.clone(),
        days: args.days,
        mmr_lambda: None,
        flat: false,
    };
    let digest: Digest = ask(settings, request, Service::recommend)?;
    super::print(args.json, &digest, recommendations)
}

/// Runs `paperscout why-not`.
pub fn why_not(args: &WhyNotArgs, settings: &Settings) -> Result<()> {
    let request = WhyNotRequest {
        user: args.user.clone(),
        paper: args.paper.clone(),
        date: args.date.clone(),
        days: args.days,
    };
    let answer = ask(settings, request, Service::why_not)?;
    super::print(args.json, &answer, why_not_text)
}

/// `user facet`: the user's facets, asked of the daemon when one runs; with a facet named, the
/// user's word on it is kept first (through the daemon, or in the store).
pub fn facets(command: &UserCommand, settings: &Settings) -> Result<()> {
    let UserCommand::Facet {
        name,
        facet,
        rename,
        mute,
        boost,
        normal,
        reset,
        json,
    } = command
    else {
        anyhow::bail!("not a facet command");
    };
    let request = || FacetsRequest { user: name.clone() };
    let mut list = ask(settings, request(), Service::facets)?;
    if let Some(which) = facet {
        let mode = [
            (*mute, FacetMode::Muted),
            (*boost, FacetMode::Boosted),
            (*normal, FacetMode::Normal),
        ];
        let edit = FacetEdit {
            rename: rename.clone(),
            mode: mode.into_iter().find_map(|(set, mode)| set.then_some(mode)),
            reset: *reset,
        };
        let change = SettingsChange {
            facet: Some(Box::new(setting_for(&list, which, &edit)?)),
            ..SettingsChange::default()
        };
        let user = UserRequest {
            settings: Box::new(change),
            ..UserRequest::new(UserAction::Set, name)
        };
        ask(settings, user, Service::user)?;
        list = ask(settings, request(), Service::facets)?;
    }
    super::print(*json, &list, paperscout_proto::tables::facets_text)
}

/// `eval --user`: the personal backtest, answered by the daemon when one runs; the report
/// for people on standard error, as JSON on standard output.
pub fn backtest(user: &str, holdout: f64, settings: &Settings, quiet: bool) -> Result<()> {
    let request = BacktestRequest {
        user: user.to_owned(),
        holdout,
    };
    let answer = ask(settings, request, Service::backtest)?;
    if !quiet {
        eprint!("{}", paperscout_proto::tables::backtest_text(&answer));
    }
    let json = serde_json::to_string_pretty(&answer)?;
    writeln!(std::io::stdout().lock(), "{json}")?;
    Ok(())
}

/// `recommend --stored`: what the last `rerank --store` kept for the user.
fn stored(args: &RecommendArgs, settings: &Settings) -> Result<()> {
    let store = settings.store.open_read_only()?;
    let ranking = paperscout_app::rerank::stored_ranking(&store, &args.user, args.n)?;
    super::print(
        args.json,
        &ranking,
        paperscout_proto::tables::stored_ranking_text,
    )
}
