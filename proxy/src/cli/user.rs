//! `agent5 user add|list|passwd|disable`: operator accounts on the service's store,
//! for the first admin and for when nobody can sign in. Passwords come from a prompt
//! (not echoed) or, with `--password-stdin`, from the first line of standard input;
//! they are checked against the policy and hashed with Argon2id, never printed.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use agent5_api::accounts::password;
use agent5_api::accounts::permissions::BuiltinRole;
use agent5_api::model::{new_id, now_millis, User};
use agent5_api::store::{SharedStore, StoreError};

use crate::config::Config;

/// Why a user command failed; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum UserCmdError {
    #[error("{0}")]
    Invalid(String),
    #[error("no user with the email {0:?}")]
    NoSuchUser(String),
    #[error("a user with the email {0:?} exists")]
    Exists(String),
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for UserCmdError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// What to do.
pub enum UserCmd<'a> {
    Add {
        email: &'a str,
        role: &'a str,
        name: Option<&'a str>,
        password_stdin: bool,
    },
    List,
    Passwd {
        email: &'a str,
        password_stdin: bool,
    },
    Disable {
        email: &'a str,
    },
    Bootstrap,
}

/// Runs `cmd` on the configured store; what to print on success.
pub fn run(config: &Config, cmd: &UserCmd<'_>) -> Result<String, UserCmdError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| UserCmdError::Store(e.to_string()))?;
    let store =
        crate::open_store_in(&runtime, config).map_err(|e| UserCmdError::Store(e.to_string()))?;
    match cmd {
        UserCmd::Bootstrap => runtime.block_on(bootstrap(&store, &config.data_dir)),
        _ => runtime.block_on(execute(&store, cmd)),
    }
}

/// The first admin of a fresh appliance.
pub const BOOTSTRAP_EMAIL: &str = "admin@localhost";
/// Where its generated password is kept, in the data directory.
pub const BOOTSTRAP_FILE: &str = "admin-password";

/// Adds `admin@localhost` with a generated password when the store has no user yet;
/// the password goes to `<data_dir>/admin-password` (0600) and into the returned line,
/// once. With users present it does nothing and says nothing.
async fn bootstrap(
    store: &SharedStore,
    data_dir: &std::path::Path,
) -> Result<String, UserCmdError> {
    if !store.list_users().await?.is_empty() {
        return Ok(String::new());
    }
    let bytes: [u8; 18] = rand::random();
    let password = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let path = data_dir.join(BOOTSTRAP_FILE);
    write_secret(&path, &password)?;
    let user = User {
        id: new_id(),
        email: BOOTSTRAP_EMAIL.to_owned(),
        display_name: "Administrator".to_owned(),
        role: BuiltinRole::Admin.name().to_owned(),
        active: true,
        created_at: now_millis(),
        last_login_at: None,
        password_hash: password::hash_off_thread(password.clone())
            .await
            .map_err(|e| UserCmdError::Store(e.to_string()))?,
        version: 0,
    };
    store.create_user(user).await?;
    Ok(format!(
        "Created {BOOTSTRAP_EMAIL} (admin); its password (also in {}):\n  {password}",
        path.display()
    ))
}

/// Writes `secret` to a new file only its owner can read.
fn write_secret(path: &std::path::Path, secret: &str) -> Result<(), UserCmdError> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| UserCmdError::Store(format!("{}: {e}", path.display())))?;
    writeln!(f, "{secret}").map_err(|e| UserCmdError::Store(format!("{}: {e}", path.display())))
}

async fn execute(store: &SharedStore, cmd: &UserCmd<'_>) -> Result<String, UserCmdError> {
    match *cmd {
        UserCmd::Add {
            email,
            role,
            name,
            password_stdin,
        } => add(store, email, role, name, password_stdin).await,
        UserCmd::List => Ok(list(&store.list_users().await?)),
        UserCmd::Passwd {
            email,
            password_stdin,
        } => {
            let mut user = found(store, email).await?;
            user.password_hash = new_password_hash(password_stdin).await?;
            let user = store.update_user(user).await?;
            let ended = store.delete_user_sessions(&user.id, None).await?;
            Ok(format!(
                "password changed for {email}; {ended} session(s) ended"
            ))
        }
        UserCmd::Bootstrap => Ok(String::new()),
        UserCmd::Disable { email } => {
            let mut user = found(store, email).await?;
            user.active = false;
            let user = store.update_user(user).await?;
            let ended = store.delete_user_sessions(&user.id, None).await?;
            Ok(format!("{email} disabled; {ended} session(s) ended"))
        }
    }
}

async fn add(
    store: &SharedStore,
    email: &str,
    role: &str,
    name: Option<&str>,
    password_stdin: bool,
) -> Result<String, UserCmdError> {
    let email = email.trim();
    if !(email.contains('@') && email.len() <= 254 && !email.contains(char::is_whitespace)) {
        return Err(UserCmdError::Invalid(format!(
            "{email:?} is not an email address"
        )));
    }
    if BuiltinRole::by_name(role).is_none() {
        let names: Vec<&str> = BuiltinRole::ALL.iter().map(|r| r.name()).collect();
        return Err(UserCmdError::Invalid(format!(
            "role must be one of {}",
            names.join(", ")
        )));
    }
    let user = User {
        id: new_id(),
        email: email.to_owned(),
        display_name: name
            .unwrap_or_else(|| email.split('@').next().unwrap_or(email))
            .to_owned(),
        role: role.to_owned(),
        active: true,
        created_at: now_millis(),
        last_login_at: None,
        password_hash: new_password_hash(password_stdin).await?,
        version: 0,
    };
    match store.create_user(user).await {
        Ok(u) => Ok(format!("added {} ({})", u.email, u.role)),
        Err(StoreError::Conflict { .. }) => Err(UserCmdError::Exists(email.to_owned())),
        Err(e) => Err(e.into()),
    }
}

async fn found(store: &SharedStore, email: &str) -> Result<User, UserCmdError> {
    match store.find_user_by_email(email).await {
        Ok(u) => Ok(u),
        Err(StoreError::NotFound) => Err(UserCmdError::NoSuchUser(email.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// One line per user: email, role, active, last login (never a hash).
fn list(users: &[User]) -> String {
    let mut out = String::from("email\trole\tactive\tlast_login\n");
    for u in users {
        let last = u
            .last_login_at
            .map_or_else(|| "-".to_owned(), agent5_api::time::rfc3339_millis);
        out.push_str(&format!(
            "{}\t{}\t{}\t{last}\n",
            u.email,
            u.role,
            if u.active { "yes" } else { "no" }
        ));
    }
    out.trim_end().to_owned()
}

/// Reads a new password (prompt or stdin), checks the policy, hashes it.
async fn new_password_hash(from_stdin: bool) -> Result<String, UserCmdError> {
    let password = read_password(from_stdin)?;
    password::check_policy(&password).map_err(|e| UserCmdError::Invalid(e.to_string()))?;
    password::hash_off_thread(password)
        .await
        .map_err(|e| UserCmdError::Store(e.to_string()))
}

fn read_password(from_stdin: bool) -> Result<String, UserCmdError> {
    let stdin = std::io::stdin();
    let interactive = !from_stdin && stdin.is_terminal();
    if interactive {
        eprint!("password: ");
        let _ = std::io::stderr().flush();
    }
    let echo_off = interactive.then(|| {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let before = tcgetattr(&stdin).ok()?;
        let mut quiet = before.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(before)
    });
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(Some(before)) = echo_off {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &before,
        );
        eprintln!();
    }
    read.map_err(|e| UserCmdError::Invalid(format!("no password read: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// The exit status and line for a finished command.
pub fn report(result: Result<String, UserCmdError>) -> ExitCode {
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("user: {e}");
            ExitCode::from(1)
        }
    }
}
