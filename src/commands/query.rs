//! `paperscout similar` and `paperscout recommend`: asked of the running daemon, or, without
//! one, answered here by the same service code the daemon runs.

use std::io::Write;

use anyhow::Result;
use serde_json::Value;

use crate::cli::{QueryBy, RecommendArgs, SimilarArgs};
use crate::client::DaemonError;
use crate::config::Settings;
use crate::daemon::protocol::{
    QueryKind, RecommendRequest, Request, SimilarRequest, SimilarResult,
};
use crate::daemon::service::{Service, ServiceOptions};
use crate::daemon::text;
use crate::recommend::Digest;

/// Sends the request to the daemon when one runs; else opens the service here for it.
pub fn ask(settings: &Settings, request: Request) -> Result<Value> {
    if crate::daemon::running(settings) {
        return crate::client::call(&settings.socket, &request);
    }
    tracing::info!("no daemon on {}: answering here", settings.socket.display());
    let service = Service::open(
        settings,
        ServiceOptions {
            model_queue: 16,
            model_batch: 32,
            compact_above: 0.1,
        },
    )?;
    let answer = service.handle(request).map_err(|failure| DaemonError {
        code: failure.code,
        message: failure.message,
    });
    // Whatever the request changed in the index is saved, as the daemon would.
    service.persist()?;
    Ok(answer?)
}

/// Runs `paperscout similar`.
pub fn similar(args: &SimilarArgs, settings: &Settings) -> Result<()> {
    let request = Request::Similar(SimilarRequest {
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
    });
    let answer = ask(settings, request)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        let result: SimilarResult = serde_json::from_value(answer)?;
        out.write_all(text::similar_table(&result).as_bytes())?;
    }
    Ok(())
}

/// Runs `paperscout recommend`.
pub fn recommend(args: &RecommendArgs, settings: &Settings) -> Result<()> {
    let request = Request::Recommend(RecommendRequest {
        user: args.user.clone(),
        n: args.n,
        date: args.date.clone(),
        days: args.days,
        mmr_lambda: None,
    });
    let answer = ask(settings, request)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        let digest: Digest = serde_json::from_value(answer)?;
        out.write_all(text::recommendations(&digest).as_bytes())?;
    }
    Ok(())
}
