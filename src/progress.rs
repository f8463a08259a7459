//! Progress bars on standard error, hidden with `--quiet`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over the bytes of an input when its size is known, else a spinner with the bytes read.
pub fn bytes(len: Option<u64>, quiet: bool) -> ProgressBar {
    let template = match len {
        Some(_) => {
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (eta {eta})"
        }
        None => "{spinner} [{elapsed_precise}] {bytes} read, {msg}",
    };
    styled(len, template, quiet)
}

/// A bar over a count of items, with their rate and the time left.
pub fn items(total: u64, unit: &str, quiet: bool) -> ProgressBar {
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} \
         ({{per_sec}}, eta {{eta}})"
    );
    styled(Some(total), &template, quiet)
}

fn styled(len: Option<u64>, template: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| match len {
        Some(_) => ProgressStyle::default_bar(),
        None => ProgressStyle::default_spinner(),
    });
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr()).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
