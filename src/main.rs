//! The `lectern` command: parses the command line, sets up logging, and runs a subcommand.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use lectern::cli;
use lectern::config::{Cli, Command, GradesCommand, LabCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match EnvFilter::try_new(&cli.log) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("error: invalid log filter {:?}: {e}", cli.log);
            return ExitCode::from(2);
        }
    };
    // The log, filtered by --log; and the database statement timer of the metrics, which reads
    // sqlx's per-statement events whatever the log shows.
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_filter(filter);
    let statements = lectern::metrics::QueryTimer.with_filter(
        tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::DEBUG),
    );
    tracing_subscriber::registry()
        .with(log)
        .with(statements)
        .init();
    match cli.command {
        Command::Validate(args) => cli::validate::execute(&args.dir),
        Command::User(command) => run_async(cli::user::execute(command)),
        Command::Backup(args) => run_async(cli::backup::execute(args)),
        Command::Grades(GradesCommand::Export(args)) => run_async(cli::grades::export(args)),
        Command::Lab(LabCommand::List { content }) => cli::lab::list(content.as_deref()),
        Command::Lab(LabCommand::Check(args)) => run_async(async { cli::lab::check(args).await }),
        Command::Lab(LabCommand::Test(args)) => run_async(cli::lab_test::test(args)),
        Command::Lab(LabCommand::Record(args)) => run_async(cli::lab_test::record(args)),
        Command::Connect(args) => run_async(cli::connect::execute(args)),
        Command::Serve(args) => run_async(async {
            match cli::serve::execute(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}", each_cause_once(&e));
                    ExitCode::FAILURE
                }
            }
        }),
    }
}

/// An error and its causes on one line, each said once: a message that already ends with its
/// cause's text (an error written as "cannot open …: {source}") is not followed by it again.
fn each_cause_once(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run_async(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(work),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
