//! Environment variables as configuration input.
//!
//! Read through the [`Env`] trait so tests hand in a map instead of mutating the process
//! environment (linkerd2-proxy's habit). The seed's variable names are kept; any secret
//! may also come from a file named by `<NAME>_FILE` (Docker/systemd credentials style).

use std::collections::HashMap;
use std::path::Path;

use super::ConfigError;

/// A source of environment variables.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// The process environment layered over a `.env` file: real variables win, as with
/// dotenv everywhere else.
#[derive(Debug, Default)]
pub struct Layered<E> {
    primary: E,
    dotenv: HashMap<String, String>,
}

impl<E: Env> Layered<E> {
    pub fn new(primary: E) -> Self {
        Self {
            primary,
            dotenv: HashMap::new(),
        }
    }

    /// Adds the variables of a `.env` file. A missing file is not an error.
    pub fn with_dotenv(mut self, path: &Path) -> Result<Self, ConfigError> {
        if !path.exists() {
            return Ok(self);
        }
        let iter = dotenvy::from_path_iter(path).map_err(|e| {
            ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        for item in iter {
            let (k, v) = item.map_err(|e| {
                ConfigError::new(path.display().to_string(), format!("invalid line: {e}"))
            })?;
            self.dotenv.insert(k, v);
        }
        Ok(self)
    }
}

impl<E: Env> Env for Layered<E> {
    fn var(&self, key: &str) -> Option<String> {
        self.primary
            .var(key)
            .or_else(|| self.dotenv.get(key).cloned())
    }
}

/// Looks up `key`, falling back to the contents of the file named by `key_FILE`.
/// Empty values count as unset so `AUTH_TOKEN=` in an env file does not configure an
/// empty token.
pub fn lookup(env: &dyn Env, key: &str) -> Result<Option<String>, ConfigError> {
    if let Some(v) = env.var(key).filter(|v| !v.trim().is_empty()) {
        return Ok(Some(v.trim().to_owned()));
    }
    let file_key = format!("{key}_FILE");
    let Some(path) = env.var(&file_key).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let contents = std::fs::read_to_string(path.trim())
        .map_err(|e| ConfigError::new(file_key.clone(), format!("cannot read {path}: {e}")))?;
    let value = contents.trim().to_owned();
    Ok((!value.is_empty()).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn file_fallback_and_empty_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("token");
        std::fs::write(&secret, "s3cret\n").expect("write");
        let env = map(&[
            ("EMPTY", "  "),
            ("TOKEN_FILE", secret.to_str().expect("utf8")),
        ]);
        assert_eq!(lookup(&env, "EMPTY").expect("ok"), None);
        assert_eq!(
            lookup(&env, "TOKEN").expect("ok").as_deref(),
            Some("s3cret")
        );
        let missing = map(&[("X_FILE", "/nonexistent/agent5")]);
        let err = lookup(&missing, "X").expect_err("missing file");
        assert_eq!(err.key, "X_FILE");
    }

    #[test]
    fn process_env_wins_over_dotenv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dotenv = dir.path().join(".env");
        std::fs::write(&dotenv, "A=from_file\nB=file_only\n").expect("write");
        let env = Layered::new(map(&[("A", "from_env")]))
            .with_dotenv(&dotenv)
            .expect("dotenv");
        assert_eq!(env.var("A").as_deref(), Some("from_env"));
        assert_eq!(env.var("B").as_deref(), Some("file_only"));
        assert_eq!(env.var("C"), None);
    }
}
