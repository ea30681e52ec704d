//! A deploy's progress on stderr: a spinner with the phase on a terminal, one plain line per
//! phase otherwise (logs and CI output stay readable).

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::output::note;

/// The phase a callback's `state` shows during a deploy; other states (the old revision's
/// `ready` before the gateway took the deploy up, or the new one's once done) show none.
pub fn phase_of(state: &str) -> Option<&'static str> {
    match state {
        "building" => Some("building the image"),
        "starting" => Some("starting instances"),
        _ => None,
    }
}

/// Remembers the phase shown last, so each is shown once.
#[derive(Debug, Default)]
pub struct Phases {
    last: Option<&'static str>,
}

impl Phases {
    /// The phase to show for `state`, when it differs from the one shown last.
    pub fn next(&mut self, state: &str) -> Option<&'static str> {
        let phase = phase_of(state)?;
        if self.last == Some(phase) {
            return None;
        }
        self.last = Some(phase);
        Some(phase)
    }
}

/// The progress display of one deploy.
pub struct Progress {
    path: String,
    phases: Phases,
    spinner: Option<ProgressBar>,
}

impl Progress {
    /// Starts showing progress for `path`: a spinner when stderr is a terminal.
    pub fn start(path: &str) -> Self {
        let spinner = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        let progress = Progress {
            path: path.to_owned(),
            phases: Phases::default(),
            spinner,
        };
        progress.show("deploying");
        progress
    }

    /// Shows the phase the callback's current `state` means, if it changed.
    pub fn observe(&mut self, state: &str) {
        if let Some(phase) = self.phases.next(state) {
            self.show(phase);
        }
    }

    fn show(&self, phase: &str) {
        let text = format!("{}: {phase}", self.path);
        match &self.spinner {
            Some(bar) => bar.set_message(text),
            None => note(&text),
        }
    }

    /// Removes the spinner (the result is printed next).
    pub fn finish(self) {
        if let Some(bar) = self.spinner {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_phase_is_shown_once_in_the_order_seen() {
        let mut phases = Phases::default();
        let seen: Vec<_> = ["ready", "building", "building", "starting", "ready"]
            .into_iter()
            .filter_map(|s| phases.next(s))
            .collect();
        assert_eq!(seen, ["building the image", "starting instances"]);
    }
}
