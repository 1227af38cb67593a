//! The command line: `agent5 serve` (the default), `agent5 check-config`,
//! `agent5 import prospects|deliveries FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod import;
mod user;

use agent5_api::import::Target;

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
    /// Check the box: config, store, certificates, clock, directories, limits,
    /// integrations; prints a table and exits 1 on a failure.
    Doctor(DoctorArgs),
    /// Zero-downtime upgrade of the running appliance: it starts the (new) binary at
    /// its own path as its successor, hands over the listening sockets and drains.
    Upgrade(UpgradeArgs),
    /// Import a CSV file into the configured store (same rules as the HTTP upload).
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Operator accounts on the configured store.
    User {
        #[command(subcommand)]
        what: UserWhat,
        #[command(flatten)]
        config: ConfigArgs,
        /// Data directory (when the embedded store is used).
        #[arg(long = "data-dir", value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum UserWhat {
    /// Add a user (the password from a prompt, or the first line of stdin).
    Add {
        email: String,
        /// viewer, operator, supervisor or admin.
        #[arg(long)]
        role: String,
        /// The name shown (default: the part of the email before @).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users (email, role, active, last login).
    List,
    /// Set a user's password.
    Passwd {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user (they can no longer sign in).
    Disable { email: String },
    /// On a store without users: add admin@localhost with a generated password, kept
    /// in <data dir>/admin-password (0600) and printed once. Does nothing otherwise.
    Bootstrap,
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// Prospects (the template.csv columns); prints the report as JSON.
    Prospects(ImportFileArgs),
    /// Deliveries of existing customers (the deliveries_template.csv columns).
    Deliveries(ImportFileArgs),
}

#[derive(Debug, Args)]
struct ImportFileArgs {
    /// The CSV file.
    file: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
    /// Data directory (when the embedded store is used).
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Validate and report without writing.
    #[arg(long)]
    dry_run: bool,
    /// Skip unknown columns instead of refusing the file.
    #[arg(long)]
    ignore_unknown: bool,
    /// Write the JSON report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
struct ConfigArgs {
    /// Configuration file (TOML). Default: $AGENT5_CONFIG, else built-in defaults.
    #[arg(long, short = 'c', env = "AGENT5_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args, Clone, Default)]
struct UpgradeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Data directory of the running appliance (where its pid file is).
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How long to wait for the new process to be ready, in seconds.
    #[arg(long, default_value_t = 90)]
    timeout: u64,
}

#[derive(Debug, Args, Clone, Default)]
struct DoctorArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Data directory (replaces server.data_dir).
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
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
    /// Take the listening sockets over from the running process (zero-downtime
    /// upgrade; it hands them over on SIGQUIT). `agent5 upgrade` does both steps.
    #[arg(long)]
    upgrade: bool,
}

/// Parses the process arguments and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::CheckConfig(args)) => check_config(&args),
        Some(Command::Doctor(args)) => doctor(&args),
        Some(Command::Upgrade(args)) => upgrade(&args),
        Some(Command::Import {
            what: ImportWhat::Prospects(args),
        }) => import(&args, Target::Prospects),
        Some(Command::Import {
            what: ImportWhat::Deliveries(args),
        }) => import(&args, Target::Deliveries),
        Some(Command::User {
            what,
            config,
            data_dir,
        }) => user(&what, &config, data_dir.as_ref()),
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

/// The configuration with `--data-dir` applied, or the exit code after saying why not.
fn config_or_exit(args: &ConfigArgs, data_dir: Option<&PathBuf>) -> Result<Config, ExitCode> {
    let overrides = Overrides {
        data_dir: data_dir.cloned(),
        ..Overrides::default()
    };
    load(args, &overrides).map_err(|e| {
        eprintln!("config error: {e}");
        ExitCode::from(2)
    })
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

fn doctor(args: &DoctorArgs) -> ExitCode {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
        ..Overrides::default()
    };
    let config = match load(&args.config, &overrides) {
        Ok(c) => c,
        Err(e) => {
            println!("config  FAIL  {e}");
            return ExitCode::from(1);
        }
    };
    if crate::ops::doctor::print(&crate::ops::doctor::run(&config)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn upgrade(args: &UpgradeArgs) -> ExitCode {
    let config = match config_or_exit(&args.config, args.data_dir.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let timeout = std::time::Duration::from_secs(args.timeout);
    match crate::ops::upgrade::request(&config.data_dir, timeout) {
        Ok((old, new)) => {
            println!("upgraded: pid {new} serves; pid {old} drains its calls and exits");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("upgrade failed: {e}");
            ExitCode::FAILURE
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
            if let (true, Some(dir)) = (args.upgrade, &args.data_dir) {
                crate::ops::upgrade::report_failure(dir, &format!("config error: {e}"));
            }
            return ExitCode::from(2);
        }
    };
    let data_dir = config.data_dir.clone();
    let mode = if args.upgrade {
        crate::StartMode::Upgrade
    } else {
        crate::StartMode::Fresh
    };
    match crate::run(config, mode) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agent5: {e}");
            if args.upgrade {
                crate::ops::upgrade::report_failure(&data_dir, &e.to_string());
            }
            ExitCode::FAILURE
        }
    }
}

fn user(what: &UserWhat, config: &ConfigArgs, data_dir: Option<&PathBuf>) -> ExitCode {
    let config = match config_or_exit(config, data_dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let cmd = match what {
        UserWhat::Add {
            email,
            role,
            name,
            password_stdin,
        } => user::UserCmd::Add {
            email,
            role,
            name: name.as_deref(),
            password_stdin: *password_stdin,
        },
        UserWhat::List => user::UserCmd::List,
        UserWhat::Passwd {
            email,
            password_stdin,
        } => user::UserCmd::Passwd {
            email,
            password_stdin: *password_stdin,
        },
        UserWhat::Disable { email } => user::UserCmd::Disable { email },
        UserWhat::Bootstrap => user::UserCmd::Bootstrap,
    };
    user::report(user::run(&config, &cmd))
}

fn import(args: &ImportFileArgs, target: Target) -> ExitCode {
    let config = match config_or_exit(&args.config, args.data_dir.as_ref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let started = std::time::Instant::now();
    let run = import::ImportArgs {
        file: &args.file,
        dry_run: args.dry_run,
        ignore_unknown: args.ignore_unknown,
        report: args.report.as_deref(),
        target,
    };
    match import::run(&config, &run) {
        Ok(report) => {
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "imported {} of {} rows ({} created, {} updated, {} unchanged, {} failed) in {secs:.1} s = {:.0} rows/s",
                report.imported,
                report.total,
                report.created,
                report.updated,
                report.unchanged,
                report.failures.failed,
                report.total as f64 / secs.max(1e-9)
            );
            if report.failures.failed > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("import failed: {e}");
            ExitCode::from(2)
        }
    }
}
