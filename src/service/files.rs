//! The shell's reads of the operator's files and environment: the configuration file,
//! the secret files, `$CREDENTIALS_DIRECTORY`, the process environment and the template
//! overrides. Everything is read here and handed to the pure core (`config`,
//! `outgoing::templates`) as values, so the core itself does no I/O.

use crate::config::{Config, ConfigError, ConfigProblem, Gathered, RawConfig, SecretSources};
use crate::outgoing::templates::{TemplateError, Templates};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl SecretSources {
    /// Reads `$CREDENTIALS_DIRECTORY` and the process environment.
    pub fn from_process() -> SecretSources {
        SecretSources {
            credentials_directory: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            // A variable that is not UTF-8 (a locale's file name) is no secret of ours:
            // `vars()` panics on one.
            env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            required: true,
        }
    }
}

/// The systemd credentials a configuration may use (`LoadCredential=imap:…`).
const CREDENTIALS: &[&str] = &["imap", "smtp"];

/// Reads what validating `raw` needs from outside: the secret files it names (only when
/// secrets are required, so commands that never log in do not touch them), the systemd
/// credentials, and which of the paths it names are directories or files.
pub fn gather(raw: &RawConfig, sources: &SecretSources) -> Gathered {
    let mut found = Gathered {
        sources: sources.clone(),
        ..Gathered::default()
    };
    if sources.required {
        for path in [&raw.imap.password_file, &raw.smtp.password_file]
            .into_iter()
            .flatten()
        {
            let text = std::fs::read_to_string(path).map_err(|e| e.to_string());
            found.secret_files.insert(path.clone(), text);
        }
        if let Some(dir) = &sources.credentials_directory {
            for name in CREDENTIALS {
                if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                    found.credentials.insert((*name).to_string(), text);
                }
            }
        }
    }
    if let Some(dir) = &raw.desk.templates
        && dir.is_dir()
    {
        found.directories.insert(dir.clone());
    }
    for ca in [&raw.imap.ca_file, &raw.smtp.ca_file].into_iter().flatten() {
        if ca.is_file() {
            found.regular_files.insert(ca.clone());
        }
    }
    found
}

impl Config {
    /// Reads, parses and validates the file. Secrets are read now.
    pub fn load(path: &Path, secrets: &SecretSources) -> Result<Config, ConfigError> {
        Config::load_with_digest(path, secrets).map(|(config, _)| config)
    }

    /// [`Config::load`], with the SHA-256 (in hex) of the very bytes it parsed.
    pub fn load_with_digest(
        path: &Path,
        secrets: &SecretSources,
    ) -> Result<(Config, String), ConfigError> {
        use sha2::Digest as _;
        let fail = |message: String| ConfigError {
            path: path.to_path_buf(),
            problems: vec![ConfigProblem {
                key: "(file)".into(),
                message,
            }],
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read the file: {e}")))?;
        let digest = sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let config = Config::from_toml(&text, secrets).map_err(|problems| ConfigError {
            path: path.to_path_buf(),
            problems,
        })?;
        Ok((config, digest))
    }

    /// Parses and validates configuration text, reading the secrets it names.
    pub fn from_toml(text: &str, secrets: &SecretSources) -> Result<Config, Vec<ConfigProblem>> {
        let raw = RawConfig::parse(text)?;
        raw.validate(&gather(&raw, secrets))
    }
}

impl Templates {
    /// The built-in templates, with overrides from `dir` (files named `<name>.txt`).
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut overrides = BTreeMap::new();
        if let Some(dir) = dir {
            for name in Templates::names() {
                let path = dir.join(format!("{name}.txt"));
                if path.exists() {
                    let text =
                        std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                            name: name.to_string(),
                            path: path.display().to_string(),
                            source,
                        })?;
                    overrides.insert(name.to_string(), text);
                }
            }
        }
        Templates::with_overrides(&overrides)
    }

    /// The files in the override directory `dir` that override nothing: a `.txt` named
    /// for no template (`acknowledgement.txt`, `Ack.txt`), or a link to nothing. Each
    /// would be ignored while the operator believes it used.
    pub fn stray_overrides(dir: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut stray: Vec<String> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "txt"))
            .filter(|p| {
                let named = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| Templates::names().any(|n| n == s));
                !named || !p.exists()
            })
            .map(|p| p.display().to_string())
            .collect();
        stray.sort();
        stray
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{GOOD, problems, secrets};
    use crate::outgoing::templates::Ack;

    #[test]
    fn secrets_come_from_files_env_or_systemd_credentials() {
        let dir = tempfile::tempdir().unwrap();
        // The first line: a note below it is no part of the password.
        std::fs::write(dir.path().join("pw"), "from-file\r\n# rotated by bob\n").unwrap();
        let with_file = GOOD.replace(
            "password_env = \"PW\"",
            &format!("password_file = \"{}\"", dir.path().join("pw").display()),
        );
        assert_eq!(
            Config::from_toml(&with_file, &secrets())
                .unwrap()
                .imap
                .password
                .expose(),
            "from-file"
        );
        let resolved = crate::config::Secret::new("old");
        let again = crate::service::login_secret(Some(&dir.path().join("pw")), &resolved);
        assert_eq!(
            again.map(|s| s.expose().to_string()),
            Ok("from-file".into())
        );

        std::fs::write(dir.path().join("imap"), "from-credential").unwrap();
        let bare = GOOD.replace("password_env = \"PW\"\n", "");
        let creds = SecretSources {
            credentials_directory: Some(dir.path().to_path_buf()),
            ..SecretSources::default()
        };
        let creds = SecretSources {
            required: true,
            ..creds
        };
        assert_eq!(
            Config::from_toml(&bare, &creds)
                .unwrap()
                .imap
                .password
                .expose(),
            "from-credential"
        );

        let missing = GOOD.replace(
            "password_env = \"PW\"",
            "password_file = \"/nonexistent/pw\"",
        );
        let got = problems(&missing);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("imap.password_file: cannot read /nonexistent/pw"),
            "{got:?}"
        );
        let unset = GOOD.replace("\"PW\"", "\"NOT_SET\"");
        assert_eq!(
            problems(&unset),
            vec![
                "imap.password_env: the environment variable NOT_SET is not set (or empty)"
                    .to_string()
            ]
        );

        // Commands that never log in do not need the secrets.
        assert!(Config::from_toml(&missing, &SecretSources::not_needed()).is_ok());
    }

    #[test]
    fn template_overrides_are_read_from_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ack.txt"),
            "Subject: Got it: {{ case_id }}\n\nWe have {{ case_id }}.\n",
        )
        .unwrap();
        let ack = Ack {
            case_id: "SEC-2026-0001".into(),
            ..Default::default()
        };
        let r = Templates::load(Some(dir.path()))
            .unwrap()
            .render(&ack)
            .unwrap();
        assert_eq!(r.subject, "Got it: SEC-2026-0001");
        assert_eq!(r.body, "We have SEC-2026-0001.\n");
        let builtin = Templates::load(None).unwrap().render(&ack).unwrap();
        assert_ne!(
            builtin.subject, r.subject,
            "without a directory, the built-in"
        );

        std::fs::write(dir.path().join("ack.txt"), "Subject: {{ case_id }\n\nx").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.starts_with("template ack: line 1"), "{err}");
    }
}
