//! `baton operations ...`: list, get, follow (until the operation ends, with a progress line on
//! stderr), cancel.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::connection::{Client, Connection};
use super::error::CliError;
use super::output::{self, Format, Table};
use super::schedulers::items;

#[derive(Subcommand, Debug)]
pub enum OperationsCommand {
    /// A scheduler's operations, newest first.
    List {
        scheduler: String,
        /// pending, active or final.
        #[arg(long)]
        stage: Option<String>,
        #[arg(long)]
        page: Option<u32>,
        #[arg(long)]
        per_page: Option<u32>,
    },
    /// One operation with its input and history.
    Get { scheduler: String, id: String },
    /// Wait until the operation ends, showing its progress on stderr; exits 6 unless it
    /// finished.
    Follow {
        scheduler: String,
        id: String,
        /// Give up after this many seconds (default: wait as long as it takes).
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// Ask a pending or running operation to stop.
    Cancel { scheduler: String, id: String },
}

/// The statuses after which an operation does not change.
pub const FINAL: &[&str] = &["finished", "canceled", "error", "evicted"];

const COLUMNS: &[(&str, &str)] = &[
    ("ID", "/id"),
    ("OPERATION", "/definitionName"),
    ("STATUS", "/status"),
    ("CREATED", "/createdAt"),
];

pub async fn run(connection: &Connection, command: OperationsCommand) -> Result<(), CliError> {
    let client = connection.client()?;
    let format = connection.output;
    match command {
        OperationsCommand::List {
            scheduler,
            stage,
            page,
            per_page,
        } => {
            let mut query = Vec::new();
            query.extend(stage.map(|s| ("stage", s)));
            query.extend(page.map(|p| ("page", p.to_string())));
            query.extend(per_page.map(|p| ("perPage", p.to_string())));
            let answer = client
                .get(&["schedulers", &scheduler, "operations"], &query)
                .await?;
            output::print(format, &answer, |v| {
                Table::of(items(v, "operations"), COLUMNS)
            })
        }
        OperationsCommand::Get { scheduler, id } => {
            let answer = get(&client, &scheduler, &id).await?;
            print_operation(format, &answer)
        }
        OperationsCommand::Follow {
            scheduler,
            id,
            timeout,
        } => {
            let timeout = match timeout {
                Some(t) if t.is_finite() && t > 0.0 => Some(Duration::from_secs_f64(t)),
                Some(_) => {
                    return Err(CliError::Input("timeout: must be a positive number".into()));
                }
                None => None,
            };
            let answer = follow(&client, &scheduler, &id, timeout).await?;
            print_operation(format, &answer)?;
            let status = output::text(&answer["operation"]["status"]);
            if status == "finished" {
                Ok(())
            } else if FINAL.contains(&status.as_str()) {
                Err(CliError::OperationFailed(format!(
                    "operation {id} ended {status}"
                )))
            } else {
                Err(CliError::OperationFailed(format!(
                    "operation {id} still {status} after the timeout"
                )))
            }
        }
        OperationsCommand::Cancel { scheduler, id } => {
            let answer = client
                .send(
                    Method::POST,
                    &["schedulers", &scheduler, "operations", &id, "cancel"],
                    &[],
                    None,
                )
                .await?;
            output::print(format, &answer, |v| {
                Table::of(std::slice::from_ref(&v["operation"]), COLUMNS)
            })
        }
    }
}

async fn get(client: &Client, scheduler: &str, id: &str) -> Result<Value, CliError> {
    client
        .get(&["schedulers", scheduler, "operations", id], &[])
        .await
}

/// Polls the operation until it ends (or `timeout`), drawing a spinner with its status and
/// latest event on stderr (a line per change when stderr is not a terminal).
async fn follow(
    client: &Client,
    scheduler: &str,
    id: &str,
    timeout: Option<Duration>,
) -> Result<Value, CliError> {
    const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_line = String::new();
    let mut tick = 0usize;
    loop {
        let answer = get(client, scheduler, id).await?;
        let operation = &answer["operation"];
        let status = output::text(&operation["status"]);
        let event = operation["executionHistory"]
            .as_array()
            .and_then(|h| h.last())
            .map(|e| output::text(&e["event"]))
            .unwrap_or_default();
        let line = format!(
            "{} {status}: {event}",
            output::text(&operation["definitionName"])
        );
        let done = FINAL.contains(&status.as_str());
        let mut stderr = std::io::stderr();
        if terminal {
            let mark = if done {
                '*'
            } else {
                SPINNER[tick % SPINNER.len()]
            };
            let _ = write!(stderr, "\r\x1b[2K{mark} {line}");
            if done {
                let _ = writeln!(stderr);
            }
            let _ = stderr.flush();
        } else if line != last_line {
            let _ = writeln!(stderr, "{line}");
        }
        last_line = line;
        tick += 1;
        if done || timeout.is_some_and(|t| started.elapsed() >= t) {
            if terminal && !done {
                let _ = writeln!(stderr);
            }
            return Ok(answer);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An operation, then its history as a table of its own (one row per event).
fn print_operation(format: Format, answer: &Value) -> Result<(), CliError> {
    if format != Format::Table {
        return output::print(format, answer, output::key_values);
    }
    let operation = &answer["operation"];
    print!("{}", Table::of(std::slice::from_ref(operation), COLUMNS));
    let history = items(operation, "executionHistory");
    if !history.is_empty() {
        println!();
        print!(
            "{}",
            Table::of(history, &[("AT", "/createdAt"), ("EVENT", "/event")])
        );
    }
    Ok(())
}
