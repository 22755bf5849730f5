//! Where the client connects and as whom: flags, `BATON_*` variables and profiles in
//! `$XDG_CONFIG_HOME/baton/config.toml` (`~/.config/baton/config.toml`), and the HTTP client
//! that sends Basic credentials (over http:// or https://, trusting the usual public CAs and
//! any given with `--ca-cert`) and turns the server's error bodies into [`CliError`]s.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::CliError;
use super::output::Format;

/// The server used when neither a flag, a variable nor a profile names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
/// The profile used when none is named and the file names no default.
pub const DEFAULT_PROFILE: &str = "default";

/// The connection and output options every client command takes.
#[derive(Args, Clone, Debug, Default)]
pub struct Connection {
    /// The Baton server's URL (default: the profile's, else http://127.0.0.1:8080).
    #[arg(long, global = true, env = "BATON_SERVER")]
    pub server: Option<String>,
    /// The user to authenticate as (default: the profile's, else `admin`).
    #[arg(long, global = true, env = "BATON_USER")]
    pub user: Option<String>,
    /// A PEM file of CA certificates to trust for an https:// server (a private CA), besides
    /// the public ones (default: the profile's).
    #[arg(long, global = true, env = "BATON_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// The profile of the config file to use (default: the file's `default_profile`, else
    /// `default`). The password comes from BATON_PASSWORD, the profile (if saved) or a prompt.
    #[arg(long, global = true, env = "BATON_PROFILE")]
    pub profile: Option<String>,
    /// Output: a table for people, json or yaml for scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// The config file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A PEM file of CA certificates to trust (for an https:// server with a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Only when `baton login --save-password` was asked (the file is mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `$XDG_CONFIG_HOME/baton/config.toml`, else `$HOME/.config/baton/config.toml`.
pub fn config_path() -> Result<PathBuf, CliError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|home| PathBuf::from(home).join(".config"))
            .ok_or_else(|| {
                CliError::Input("neither XDG_CONFIG_HOME nor HOME is set".to_string())
            })?,
    };
    Ok(base.join("baton").join("config.toml"))
}

impl ConfigFile {
    /// The file, or an empty one when there is none.
    pub fn load() -> Result<Self, CliError> {
        let path = config_path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| CliError::Input(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CliError::Input(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the file, readable by its owner only (0600; its folder 0700).
    pub fn save(&self) -> Result<PathBuf, CliError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let path = config_path()?;
        let fail = |e: std::io::Error| CliError::Input(format!("{}: {e}", path.display()));
        if let Some(folder) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(folder)
                .map_err(fail)?;
        }
        let text = toml::to_string(self).map_err(|e| CliError::Input(e.to_string()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(fail)?;
        // An older file keeps its mode on open: make sure it is the owner's only.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
        file.write_all(text.as_bytes()).map_err(fail)?;
        Ok(path)
    }

    /// The profile's name: the one asked for, else the file's default, else `default`.
    pub fn profile_name(&self, asked: Option<&str>) -> String {
        asked
            .map(str::to_string)
            .or_else(|| self.default_profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
    }
}

/// Where to connect and as whom, once flags, variables and the profile are combined.
#[derive(Clone)]
pub struct Target {
    pub server: String,
    pub user: String,
    pub password: String,
    /// Extra CA certificates to trust (PEM).
    pub ca_cert: Option<PathBuf>,
}

// Never shows the password.
impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("ca_cert", &self.ca_cert)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Flags and variables first, then the profile, then the defaults; the password from
    /// `BATON_PASSWORD`, the profile, or a prompt on a terminal.
    pub fn target(&self) -> Result<Target, CliError> {
        self.resolve(true)
    }

    /// As [`Self::target`]; a profile asked for by name must exist unless `login` is about
    /// to create it.
    fn resolve(&self, profile_must_exist: bool) -> Result<Target, CliError> {
        let file = ConfigFile::load()?;
        let name = file.profile_name(self.profile.as_deref());
        let profile = match file.profiles.get(&name) {
            Some(profile) => profile.clone(),
            None if profile_must_exist && self.profile.is_some() => {
                return Err(CliError::Input(format!(
                    "no profile {name} in {}",
                    config_path()?.display()
                )));
            }
            None => Profile::default(),
        };
        let server = self
            .server
            .clone()
            .or(profile.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let user = self
            .user
            .clone()
            .or(profile.user)
            .unwrap_or_else(|| "admin".to_string());
        let ca_cert = self.ca_cert.clone().or(profile.ca_cert);
        let password = match password_from_env().or(profile.password) {
            Some(password) => password,
            None => prompt_password(&format!("Password for {user} at {server}: "))?,
        };
        Ok(Target {
            server,
            user,
            password,
            ca_cert,
        })
    }

    pub fn client(&self) -> Result<Client, CliError> {
        Client::new(self.target()?)
    }
}

fn password_from_env() -> Option<String> {
    std::env::var("BATON_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}

/// Reads a password from the terminal without echoing it.
pub(super) fn prompt_password(prompt: &str) -> Result<String, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Auth(
            "no password: set BATON_PASSWORD, save one with `baton login --save-password`, or run on a terminal"
                .to_string(),
        ));
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: a zeroed termios is a valid buffer for tcgetattr to fill; both calls only read or
    // write that struct for the terminal on stdin.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let have_terminal = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if have_terminal {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above, a termios read from this terminal with the echo flag cleared.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if have_terminal {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    read.map_err(|e| CliError::Input(format!("reading the password: {e}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// A body to send.
pub enum Body {
    Json(Value),
    /// Bytes with their content type (a YAML file is sent as it is).
    Raw(&'static str, Vec<u8>),
}

/// The JSON API of one server, as one user.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    target: Target,
}

impl Client {
    pub fn new(target: Target) -> Result<Self, CliError> {
        let base = Url::parse(&target.server)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                CliError::Input(format!(
                    "server: {} is not an http(s) URL such as http://127.0.0.1:8080",
                    target.server
                ))
            })?;
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(150));
        if let Some(path) = &target.ca_cert {
            for certificate in ca_certificates(path)? {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build().map_err(|e| CliError::Input(e.to_string()))?;
        Ok(Self { http, base, target })
    }

    /// The URL of `segments` (each escaped) under the server's base.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k, v.as_str())));
        }
        url
    }

    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Body>,
    ) -> Result<Value, CliError> {
        let url = self.url(segments, query);
        let mut request = self
            .http
            .request(method, url.clone())
            .basic_auth(&self.target.user, Some(&self.target.password));
        request = match body {
            Some(Body::Json(value)) => request.json(&value),
            Some(Body::Raw(content_type, bytes)) => request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
            None => request,
        };
        let response = request.send().await.map_err(|e| {
            let mut detail = error_chain(&e);
            if detail.contains("certificate") && self.target.ca_cert.is_none() {
                detail.push_str(
                    " (a private CA? name its certificate with --ca-cert FILE or BATON_CA_CERT)",
                );
            }
            CliError::Connection {
                url: self.base.to_string(),
                detail,
            }
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| CliError::Connection {
            url: self.base.to_string(),
            detail: error_chain(&e),
        })?;
        let value: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).trim().to_string()));
        if status.is_success() {
            return Ok(value);
        }
        Err(server_error(status, &value))
    }

    pub async fn get(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, CliError> {
        self.send(Method::GET, segments, query, None).await
    }
}

/// The certificates of a PEM file (one or more), for `--ca-cert`.
fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, CliError> {
    let invalid =
        |detail: String| CliError::Input(format!("ca-cert: {}: {detail}", path.display()));
    let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
    let certificates =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| invalid(error_chain(&e)))?;
    if certificates.is_empty() {
        return Err(invalid("no PEM certificate in it".to_string()));
    }
    Ok(certificates)
}

/// The error the server answered, with the fields at fault it reported.
fn server_error(status: StatusCode, body: &Value) -> CliError {
    let errors = body
        .get("errors")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    let message = match body.get("message").and_then(Value::as_str) {
        Some(message) => message.to_string(),
        None => match body {
            Value::String(text) if !text.is_empty() => text.clone(),
            _ => status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_string(),
        },
    };
    CliError::Server {
        status: status.as_u16(),
        code: body
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        message,
        errors,
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Also store the password in the profile (in plain text, in a file only you can read).
    #[arg(long)]
    pub save_password: bool,
}

/// Checks the credentials (`GET /schedulers`), then stores the server and user (and the
/// password when asked) as the profile, the default one when the file has none.
pub async fn login(args: LoginArgs) -> Result<(), CliError> {
    let target = args.connection.resolve(false)?;
    let client = Client::new(target.clone())?;
    client.get(&["schedulers"], &[]).await?;
    let mut file = ConfigFile::load()?;
    let name = file.profile_name(args.connection.profile.as_deref());
    file.profiles.insert(
        name.clone(),
        Profile {
            server: Some(target.server.clone()),
            user: Some(target.user.clone()),
            ca_cert: target.ca_cert.clone(),
            password: args.save_password.then(|| target.password.clone()),
        },
    );
    if file.default_profile.is_none() {
        file.default_profile = Some(name.clone());
    }
    let path = file.save()?;
    let answer = serde_json::json!({
        "profile": name,
        "server": target.server,
        "user": target.user,
        "passwordSaved": args.save_password,
        "file": path.display().to_string(),
    });
    super::output::print(args.connection.output, &answer, super::output::key_values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_round_trip_without_a_password_unless_saved() {
        let mut file = ConfigFile::default();
        file.profiles.insert(
            "prod".into(),
            Profile {
                server: Some("http://baton:8080".into()),
                user: Some("ops".into()),
                ca_cert: Some("/etc/baton/ca.pem".into()),
                password: None,
            },
        );
        let text = toml::to_string(&file).unwrap();
        assert!(!text.contains("password"), "{text}");
        assert_eq!(toml::from_str::<ConfigFile>(&text).unwrap(), file);
        assert_eq!(file.profile_name(None), "default");
        assert_eq!(file.profile_name(Some("prod")), "prod");
    }

    #[test]
    fn a_target_never_shows_its_password() {
        let target = Target {
            server: "http://x".into(),
            user: "u".into(),
            password: "hunter2".into(),
            ca_cert: None,
        };
        assert!(!format!("{target:?}").contains("hunter2"));
    }
}
