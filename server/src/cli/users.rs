//! `baton users ...` (administrators only): list, get, create, set, delete. A user's new
//! password comes from `BATON_NEW_PASSWORD` or a prompt (typed twice, not echoed), never from a
//! flag, and no answer prints it.

use std::io::IsTerminal;

use app::domain::user::parse_games;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::connection::{Body, Connection, prompt_password};
use super::error::CliError;
use super::output::{self, Table};
use super::schedulers::items;

/// Where a new password is read from when no terminal is at hand.
pub const NEW_PASSWORD_VARIABLE: &str = "BATON_NEW_PASSWORD";

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Every user, by username.
    List,
    /// One user.
    Get { name: String },
    /// Create a user. Its password: BATON_NEW_PASSWORD, else a prompt.
    Create {
        name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The games an editor changes or a viewer reads, separated by commas.
        #[arg(long, default_value = "")]
        games: String,
    },
    /// Change a user's role, games, password or status.
    Set {
        name: String,
        #[command(flatten)]
        change: SetArgs,
    },
    /// Delete a user; its sessions end.
    Delete { name: String },
}

#[derive(Args, Debug)]
#[group(required = true, multiple = true)]
pub struct SetArgs {
    #[arg(long, value_enum)]
    role: Option<RoleArg>,
    /// Replaces the games listed on the user (separated by commas; "" for none).
    #[arg(long)]
    games: Option<String>,
    /// Set a new password: from BATON_NEW_PASSWORD, else a prompt.
    #[arg(long)]
    password: bool,
    /// Refuse the user's sign-ins and API calls.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Let a disabled user in again.
    #[arg(long)]
    enable: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleArg {
    Admin,
    Editor,
    Viewer,
}

impl RoleArg {
    fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }
}

const COLUMNS: &[(&str, &str)] = &[
    ("USER", "/username"),
    ("ROLE", "/role"),
    ("GAMES", "/games"),
    ("DISABLED", "/disabled"),
];

pub async fn run(connection: &Connection, command: UsersCommand) -> Result<(), CliError> {
    let client = connection.client()?;
    let format = connection.output;
    match command {
        UsersCommand::List => {
            let answer = client.get(&["users"], &[]).await?;
            output::print(format, &answer, |v| Table::of(items(v, "users"), COLUMNS))
        }
        UsersCommand::Get { name } => {
            let answer = client.get(&["users", &name], &[]).await?;
            output::print(format, &answer, user_table)
        }
        UsersCommand::Create { name, role, games } => {
            let password = new_password(&name)?;
            let body = json!({
                "username": name,
                "password": password,
                "role": role.as_str(),
                "games": parse_games(&games),
            });
            let answer = client
                .send(Method::POST, &["users"], &[], Some(Body::Json(body)))
                .await?;
            output::print(format, &answer, user_table)
        }
        UsersCommand::Set { name, change } => {
            let mut body = Map::new();
            if let Some(role) = change.role {
                body.insert("role".into(), json!(role.as_str()));
            }
            if let Some(games) = &change.games {
                body.insert("games".into(), json!(parse_games(games)));
            }
            if change.disable || change.enable {
                body.insert("disabled".into(), json!(change.disable));
            }
            if change.password {
                body.insert("password".into(), json!(new_password(&name)?));
            }
            let answer = client
                .send(
                    Method::PATCH,
                    &["users", &name],
                    &[],
                    Some(Body::Json(Value::Object(body))),
                )
                .await?;
            output::print(format, &answer, user_table)
        }
        UsersCommand::Delete { name } => {
            client
                .send(Method::DELETE, &["users", &name], &[], None)
                .await?;
            output::print(
                format,
                &json!({"username": name, "deleted": true}),
                output::key_values,
            )
        }
    }
}

/// One user's fields (the API answers `{"user": ...}`).
fn user_table(answer: &Value) -> Table {
    output::key_values(answer.get("user").unwrap_or(answer))
}

/// The new password of `user`: `BATON_NEW_PASSWORD`, else typed twice on a terminal.
fn new_password(user: &str) -> Result<String, CliError> {
    if let Some(password) = std::env::var(NEW_PASSWORD_VARIABLE)
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Input(format!(
            "password: set {NEW_PASSWORD_VARIABLE}, or run on a terminal to type it"
        )));
    }
    let password = prompt_password(&format!("New password for {user}: "))?;
    if prompt_password("Again: ")? != password {
        return Err(CliError::Input(
            "password: the two entries differ".to_string(),
        ));
    }
    Ok(password)
}
