//! `paperscout serve`, `status` and `stop`: the daemon started in the foreground or detached
//! (re-running this binary with `--foreground`, logging to a file), asked how it is, and
//! stopped by its pid.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use paperscout_app::Settings;
use paperscout_daemon::{ServeOptions, ServeOverrides};
use paperscout_proto::{Client, ClientError, ErrorCode, HealthAnswer, HealthRequest};

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
    use std::io::Write;

    let health = health(settings)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&health)?)?;
    } else {
        writeln!(
            out,
            "paperscout {} serving on {} as pid {}: up {:.0} s, {} papers indexed, {} connections, {} requests waiting for the model",
            health.version,
            settings.socket.display(),
            health.pid,
            health.uptime_seconds,
            health.papers_indexed,
            health.connections,
            health.model_queue,
        )?;
    }
    Ok(())
}

fn health(settings: &Settings) -> Result<HealthAnswer> {
    if !paperscout_daemon::running(settings) {
        return Err(ClientError::Answered {
            code: ErrorCode::NotFound,
            message: format!(
                "no daemon answers on {}: start one with `paperscout serve`",
                settings.socket.display()
            ),
        }
        .into());
    }
    Ok(Client::new(&settings.socket).call(HealthRequest {})?)
}

/// `paperscout stop`.
pub fn stop(settings: &Settings, quiet: bool) -> Result<()> {
    let health = health(settings)?;
    let pid = i32::try_from(health.pid).context("the daemon's pid is out of range")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .with_context(|| format!("could not signal pid {pid}"))?;
    let deadline = Instant::now() + Duration::from_secs(120);
    while settings.socket.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if settings.socket.exists() {
        bail!("pid {pid} has not stopped within 2 minutes; see its log");
    }
    if !quiet {
        eprintln!("stopped paperscout (pid {pid})");
    }
    Ok(())
}
