//! The `gm2dqc` binary: parse arguments, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Like every Unix filter: a closed pipe (`gm2dqc status | head`) ends the process
    // quietly instead of an error message for each write.
    // SAFETY: called before any thread starts; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Logs: RUST_LOG (default: errors only), to stderr, beside the progress bars.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")))
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = gm2dqc::cli::Cli::parse();
    let status = match gm2dqc::cli::run(cli) {
        Ok(status) => status,
        Err(e) => {
            gm2dqc::cli::report_error(&e);
            gm2dqc::job::outcome::status_of(&e)
        }
    };
    ExitCode::from(status.code())
}
