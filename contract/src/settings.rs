//! Settings shared by every Inlet process: logging and the node identity/secret that authenticates the
//! ingest to the API. Each is an environment variable and a CLI flag.

use clap::{Args, ValueEnum};

/// Log output format.
#[derive(Clone, Copy, Debug, Default, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings every binary accepts.
#[derive(Clone, Debug, Args)]
pub struct CommonSettings {
    /// Log format; the level comes from RUST_LOG (default `info`).
    #[arg(long, env = "INLET_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// This ingest node's id, reported to the API.
    #[arg(long, env = "INLET_NODE_ID", default_value = "local")]
    pub node_id: String,
    /// Shared secret between ingest nodes and the API (internal API authentication). Required by the
    /// separate `inlet-api`/`inlet-ingest` binaries; the all-in-one generates one per run when unset.
    #[arg(long, env = "INLET_NODE_SECRET", hide_env_values = true)]
    pub node_secret: Option<String>,
}

/// Whether text logs get ANSI colours: only on a terminal, and never when `NO_COLOR` is set
/// (<https://no-color.org>), so that files, journald and pipes get plain text.
pub fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Installs the global tracing subscriber (idempotent: a second call is ignored).
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = log_colours(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(!log_colours(false, None));
        assert!(!log_colours(true, Some(std::ffi::OsStr::new("1"))));
        assert!(log_colours(true, Some(std::ffi::OsStr::new(""))));
    }
}
