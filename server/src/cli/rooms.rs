//! `baton rooms ...`: list, get, watch a scheduler's game rooms.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Subcommand;
use serde_json::{Value, json};

use super::connection::{Client, Connection};
use super::error::CliError;
use super::output::{self, Format, Table};
use super::schedulers::items;

#[derive(Subcommand, Debug)]
pub enum RoomsCommand {
    /// A scheduler's rooms, oldest first.
    List {
        scheduler: String,
        /// Only the rooms of this region.
        #[arg(long)]
        region: Option<String>,
    },
    /// One room of a scheduler.
    Get { scheduler: String, room: String },
    /// Print each room that appears, changes status or goes away, until interrupted.
    Watch {
        scheduler: String,
        /// Seconds between two looks.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many looks (default: never).
        #[arg(long)]
        times: Option<u32>,
    },
}

const COLUMNS: &[(&str, &str)] = &[
    ("ROOM", "/id"),
    ("STATUS", "/status"),
    ("VERSION", "/version"),
    ("REGION", "/region"),
    ("HOST", "/address/host"),
    ("MATCHES", "/runningMatches"),
    ("CREATED", "/createdAt"),
];

pub async fn run(connection: &Connection, command: RoomsCommand) -> Result<(), CliError> {
    let client = connection.client()?;
    let format = connection.output;
    match command {
        RoomsCommand::List { scheduler, region } => {
            let query: Vec<_> = region.map(|r| ("region", r)).into_iter().collect();
            let answer = client
                .get(&["schedulers", &scheduler, "rooms"], &query)
                .await?;
            output::print(format, &answer, |v| Table::of(items(v, "rooms"), COLUMNS))
        }
        RoomsCommand::Get { scheduler, room } => {
            let rooms = list(&client, &scheduler).await?;
            let found = rooms
                .into_iter()
                .find(|r| r["id"] == room.as_str())
                .ok_or_else(|| {
                    CliError::NotFound(format!("no room {room} in scheduler {scheduler}"))
                })?;
            output::print(format, &found, output::key_values)
        }
        RoomsCommand::Watch {
            scheduler,
            interval,
            times,
        } => {
            if !(interval.is_finite() && interval > 0.0) {
                return Err(CliError::Input(
                    "interval: must be a positive number".into(),
                ));
            }
            watch(
                &client,
                format,
                &scheduler,
                Duration::from_secs_f64(interval),
                times,
            )
            .await
        }
    }
}

async fn list(client: &Client, scheduler: &str) -> Result<Vec<Value>, CliError> {
    let answer = client.get(&["schedulers", scheduler, "rooms"], &[]).await?;
    Ok(items(&answer, "rooms").to_vec())
}

/// Looks every `interval` and prints the differences: one line per event, a table row or (for
/// `-o json|yaml`) one JSON object per line.
async fn watch(
    client: &Client,
    format: Format,
    scheduler: &str,
    interval: Duration,
    times: Option<u32>,
) -> Result<(), CliError> {
    let mut known: BTreeMap<String, String> = BTreeMap::new();
    let mut looks = 0;
    if format == Format::Table {
        println!("{:<25}  {:<8}  {:<40}  STATUS", "TIME", "EVENT", "ROOM");
    }
    loop {
        let rooms = list(client, scheduler).await?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut seen = BTreeMap::new();
        for room in &rooms {
            let id = output::text(&room["id"]);
            let status = output::text(&room["status"]);
            let event = match known.get(&id) {
                None => Some("added"),
                Some(before) if *before != status => Some("changed"),
                Some(_) => None,
            };
            if let Some(event) = event {
                emit(format, &now, event, &id, &status);
            }
            seen.insert(id, status);
        }
        for (id, status) in &known {
            if !seen.contains_key(id) {
                emit(format, &now, "removed", id, status);
            }
        }
        known = seen;
        looks += 1;
        if times.is_some_and(|t| looks >= t) {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

fn emit(format: Format, time: &str, event: &str, room: &str, status: &str) {
    match format {
        Format::Table => println!("{time:<25}  {event:<8}  {room:<40}  {status}"),
        Format::Json | Format::Yaml => println!(
            "{}",
            json!({"time": time, "event": event, "room": room, "status": status})
        ),
    }
}
