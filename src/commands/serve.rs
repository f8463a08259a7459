//! `paperscout serve`, `status` and `stop`: the daemon started in the foreground or detached
//! (re-running this binary with `--foreground`, logging to a file), asked how it is, and
//! stopped by its pid.

use anyhow::Result;
use paperscout_app::Settings;
use paperscout_daemon::{ServeOptions, ServeOverrides};

use crate::cli::{Cli, ServeArgs};

/// Runs `paperscout serve`: in this process with `--foreground`, else detached.
pub fn run(cli: &Cli, args: &ServeArgs, settings: &Settings, quiet: bool) -> Result<()> {
    if !args.foreground {
        return start_in_background(settings, quiet);
    }
    let options = ServeOptions {
        config: cli.config.clone(),
        socket_group: args.socket_group.clone(),
        model_queue: args.model_queue,
        model_batch: args.model_batch,
        limits: ServeOverrides {
            max_line: args.max_line_bytes,
            max_connections: args.max_connections,
            idle_timeout: args.idle_timeout,
        },
    };
    let mut frontends: Vec<Box<dyn paperscout_daemon::Frontend>> = Vec::new();
    if let Some(web) = paperscout_web::WebOptions::from_settings(settings, args.http.as_deref())? {
        frontends.push(Box::new(paperscout_web::Web::new(settings, web)?));
    }
    Ok(paperscout_daemon::serve_with(
        settings, &options, frontends,
    )?)
}

/// Starts `paperscout serve --foreground` detached and says where it serves.
fn start_in_background(settings: &Settings, quiet: bool) -> Result<()> {
    let args = std::env::args_os().skip(1).collect();
    let started = paperscout_daemon::detach::start_in_background(settings, args)?;
    if !quiet {
        eprintln!(
            "paperscout is serving on {} as pid {}; log: {}",
            settings.socket.display(),
            started.pid,
            started.log.display()
        );
    }
    Ok(())
}

/// `paperscout status`.
pub fn status(settings: &Settings, json: bool) -> Result<()> {
    let health = paperscout_daemon::detach::health(settings)?;
    // The sources' fetches, as the daemon last saved them.
    let states = paperscout_app::sources::saved_states(&settings.data_dir);
    let sources =
        paperscout_app::sources::rows(&settings.schedule.sources, &states, chrono::Utc::now());
    let text = if json {
        let mut value = serde_json::to_value(&health)?;
        value["sources"] = serde_json::to_value(&sources)?;
        serde_json::to_string_pretty(&value)? + "\n"
    } else {
        let mut text = paperscout_proto::tables::health_line(&health, &settings.socket);
        let failing: Vec<String> = sources
            .iter()
            .filter_map(|row| {
                let why = row.state.last_error.as_ref()?;
                Some(format!("{} ({why})", row.source))
            })
            .collect();
        if !sources.is_empty() {
            text += &if failing.is_empty() {
                format!("sources: {} fetched as planned\n", sources.len())
            } else {
                format!(
                    "sources failing: {}; `paperscout sources` shows when each is tried again\n",
                    failing.join("; ")
                )
            };
        }
        text
    };
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(())
}

/// `paperscout stop`.
pub fn stop(settings: &Settings, quiet: bool) -> Result<()> {
    let pid = paperscout_daemon::detach::stop(settings)?;
    if !quiet {
        eprintln!("stopped paperscout (pid {pid})");
    }
    Ok(())
}
