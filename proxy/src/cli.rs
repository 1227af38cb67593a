//! The command line: `agent5 serve` (the default), `agent5 check-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, Layered, Overrides, ProcessEnv};

#[derive(Debug, Parser)]
#[command(
    name = "agent5",
    version,
    about = "The Agent5 appliance: AI phone agents, one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the appliance (the default).
    Serve(ServeArgs),
    /// Validate a configuration file (and the environment) and exit non-zero on error.
    CheckConfig(ConfigArgs),
}

#[derive(Debug, Args, Clone, Default)]
struct ConfigArgs {
    /// Configuration file (TOML). Default: $AGENT5_CONFIG, else built-in defaults.
    #[arg(long, short = 'c', env = "AGENT5_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Plaintext HTTP listener, IP:PORT or unix:/path (repeatable; replaces server.listen).
    #[arg(long = "listen", short = 'l', value_name = "ADDR")]
    listen: Vec<String>,
    /// Data directory (database, recordings, ACME state).
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Prometheus listener, IP:PORT or unix:/path; "" disables it (replaces metrics.listen).
    #[arg(long = "metrics-listen", value_name = "ADDR")]
    metrics_listen: Option<String>,
}

/// Parses the process arguments and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig(args)) => check_config(&args),
        Some(Command::Serve(args)) => serve(&args),
        None => serve(&cli.serve),
    }
}

fn load(args: &ConfigArgs, overrides: &Overrides) -> Result<Config, String> {
    let mut env = Layered::new(ProcessEnv);
    if let Some(path) = &args.config {
        let dotenv = path.parent().map(|d| d.join(".env"));
        if let Some(dotenv) = dotenv {
            env = env.with_dotenv(&dotenv).map_err(|e| e.to_string())?;
        }
    }
    Config::load(args.config.as_deref(), overrides, &env).map_err(|e| e.to_string())
}

fn check_config(args: &ConfigArgs) -> ExitCode {
    match load(args, &Overrides::default()) {
        Ok(cfg) => {
            let source = cfg.source.as_ref().map_or_else(
                || "built-in defaults".to_owned(),
                |p| p.display().to_string(),
            );
            println!("ok: {source}");
            for (name, missing) in cfg.integrations.status() {
                if !missing.is_empty() {
                    println!(
                        "note: {name} not configured (missing {})",
                        missing.join(", ")
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("config error: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: &ServeArgs) -> ExitCode {
    let overrides = Overrides {
        listen: args.listen.clone(),
        data_dir: args.data_dir.clone(),
        metrics_listen: args.metrics_listen.clone(),
    };
    let config = match load(&args.config, &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("config error: {e}");
            return ExitCode::from(2);
        }
    };
    match crate::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent5: {e}");
            ExitCode::FAILURE
        }
    }
}
