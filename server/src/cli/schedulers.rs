//! `baton schedulers ...`: list, get, versions, create, apply, new-version, switch-version,
//! delete.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::connection::{Body, Client, Connection};
use super::error::CliError;
use super::output::{self, Table};

#[derive(Subcommand, Debug)]
pub enum SchedulersCommand {
    /// List the schedulers you can see.
    List {
        #[arg(long)]
        game: Option<String>,
        /// Only the scheduler of this name.
        #[arg(long)]
        name: Option<String>,
    },
    /// A scheduler as the API answers it (its active version, or `--version`).
    Get {
        name: String,
        #[arg(long)]
        version: Option<String>,
    },
    /// A scheduler's versions, the active one marked.
    Versions { name: String },
    /// Create a scheduler from a JSON or YAML file (Maestro v10's shape).
    Create {
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Create the scheduler of the file, or save the file as its new version when it exists.
    Apply {
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Save a new version of a scheduler from a JSON or YAML file.
    NewVersion {
        name: String,
        #[command(flatten)]
        file: FileArg,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Make another version of a scheduler the active one.
    SwitchVersion {
        name: String,
        version: String,
        #[command(flatten)]
        wait: WaitArg,
    },
    /// Delete a scheduler and its rooms.
    Delete {
        name: String,
        #[command(flatten)]
        wait: WaitArg,
    },
}

#[derive(Args, Debug)]
pub struct FileArg {
    /// The scheduler file: JSON or YAML (`-` for stdin).
    #[arg(short = 'f', long = "file")]
    pub path: PathBuf,
}

#[derive(Args, Debug, Default)]
pub struct WaitArg {
    /// Wait up to this long (e.g. `30s`, at most 120s) for the change's operation to end,
    /// and show how it ended.
    #[arg(long)]
    pub wait: Option<String>,
}

impl WaitArg {
    pub fn query(&self) -> Vec<(&'static str, String)> {
        self.wait.iter().map(|w| ("wait", w.clone())).collect()
    }
}

/// A file as read: its media type, its bytes, and its content as JSON.
pub struct Document {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub value: Value,
}

/// Reads a JSON or YAML file (`-`: stdin): JSON when it parses as JSON, else YAML.
pub fn read_document(path: &Path) -> Result<Document, CliError> {
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .map_err(|e| CliError::Input(format!("reading stdin: {e}")))?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?
    };
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        return Ok(Document {
            content_type: "application/json",
            bytes,
            value,
        });
    }
    let value: Value = serde_yaml_ng::from_slice(&bytes)
        .map_err(|e| CliError::Input(format!("{}: neither JSON nor YAML: {e}", path.display())))?;
    Ok(Document {
        content_type: "application/yaml",
        bytes,
        value,
    })
}

pub async fn run(connection: &Connection, command: SchedulersCommand) -> Result<(), CliError> {
    let client = connection.client()?;
    let format = connection.output;
    match command {
        SchedulersCommand::List { game, name } => {
            let mut query = Vec::new();
            query.extend(game.map(|g| ("game", g)));
            query.extend(name.map(|n| ("name", n)));
            let answer = client.get(&["schedulers"], &query).await?;
            output::print(format, &answer, |v| {
                Table::of(
                    items(v, "schedulers"),
                    &[
                        ("NAME", "/name"),
                        ("GAME", "/game"),
                        ("STATE", "/state"),
                        ("VERSION", "/version"),
                        ("REPLICAS", "/roomsReplicas"),
                        ("CREATED", "/createdAt"),
                    ],
                )
            })
        }
        SchedulersCommand::Get { name, version } => {
            let query: Vec<_> = version.map(|v| ("version", v)).into_iter().collect();
            let answer = client.get(&["schedulers", &name], &query).await?;
            output::print(format, &answer["scheduler"], output::key_values)
        }
        SchedulersCommand::Versions { name } => {
            let answer = client.get(&["schedulers", &name, "versions"], &[]).await?;
            output::print(format, &answer, |v| {
                Table::of(
                    items(v, "versions"),
                    &[
                        ("VERSION", "/version"),
                        ("ACTIVE", "/isActive"),
                        ("CREATED", "/createdAt"),
                    ],
                )
            })
        }
        SchedulersCommand::Create { file, wait } => {
            let document = read_document(&file.path)?;
            let answer = create(&client, document, &wait).await?;
            output::print(format, &answer, change_table)
        }
        SchedulersCommand::Apply { file, wait } => {
            let document = read_document(&file.path)?;
            let name = document
                .value
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "{}: the file names no scheduler",
                        file.path.display()
                    ))
                })?
                .to_string();
            let answer = match client.get(&["schedulers", &name], &[]).await {
                Ok(_) => new_version(&client, &name, document, &wait).await?,
                Err(CliError::Server { status: 404, .. }) => {
                    create(&client, document, &wait).await?
                }
                Err(other) => return Err(other),
            };
            output::print(format, &answer, change_table)
        }
        SchedulersCommand::NewVersion { name, file, wait } => {
            let document = read_document(&file.path)?;
            let answer = new_version(&client, &name, document, &wait).await?;
            output::print(format, &answer, change_table)
        }
        SchedulersCommand::SwitchVersion {
            name,
            version,
            wait,
        } => {
            let answer = client
                .send(
                    Method::PUT,
                    &["schedulers", &name],
                    &wait.query(),
                    Some(Body::Json(json!({ "version": version }))),
                )
                .await?;
            output::print(format, &answer, change_table)
        }
        SchedulersCommand::Delete { name, wait } => {
            let answer = client
                .send(Method::DELETE, &["schedulers", &name], &wait.query(), None)
                .await?;
            output::print(format, &answer, change_table)
        }
    }
}

pub async fn create(
    client: &Client,
    document: Document,
    wait: &WaitArg,
) -> Result<Value, CliError> {
    client
        .send(
            Method::POST,
            &["schedulers"],
            &wait.query(),
            Some(Body::Raw(document.content_type, document.bytes)),
        )
        .await
}

async fn new_version(
    client: &Client,
    name: &str,
    document: Document,
    wait: &WaitArg,
) -> Result<Value, CliError> {
    client
        .send(
            Method::POST,
            &["schedulers", name],
            &wait.query(),
            Some(Body::Raw(document.content_type, document.bytes)),
        )
        .await
}

/// The array at `key` of an answer (empty when absent).
pub fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// What a change answered: the scheduler, its version, the operation and (after `--wait`)
/// how the operation ended.
pub fn change_table(answer: &Value) -> Table {
    Table::of(
        std::slice::from_ref(answer),
        &[
            ("SCHEDULER", "/scheduler/name"),
            ("VERSION", "/scheduler/version"),
            ("STATE", "/scheduler/state"),
            ("OPERATION", "/operationId"),
            ("STATUS", "/operation/status"),
        ],
    )
}
