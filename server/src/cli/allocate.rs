//! `baton allocate` and `baton release`: claim a room for a match, release the claim.

use clap::Args;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::connection::{Body, Connection};
use super::error::CliError;
use super::output::{self, Table};

#[derive(Args, Debug)]
pub struct AllocateArgs {
    /// The scheduler to take a room of.
    pub scheduler: String,
    /// Only rooms of this scheduler version (e.g. `v2`).
    #[arg(long)]
    pub version: Option<String>,
    /// Only rooms of a version with this label (`KEY=VALUE`, repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Only rooms whose pinged metadata has this key with this JSON value (`KEY=JSON`, a bare
    /// word is a string; repeatable).
    #[arg(long = "room-metadata", value_name = "KEY=JSON")]
    pub room_metadata: Vec<String>,
    /// Regions in order of preference (repeatable; `""` for rooms without a region).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// Match metadata to attach to the claim (a JSON value).
    #[arg(long)]
    pub metadata: Option<String>,
    /// Seconds the claim holds the room unless the room confirms it.
    #[arg(long)]
    pub ttl: Option<u64>,
}

impl AllocateArgs {
    /// The body of `POST /schedulers/{name}/allocations`.
    pub fn body(&self) -> Result<Value, CliError> {
        let mut selector = Map::new();
        if let Some(version) = &self.version {
            selector.insert("version".into(), json!(version));
        }
        if !self.labels.is_empty() {
            let mut labels = Map::new();
            for pair in &self.labels {
                let (key, value) = split(pair, "label")?;
                labels.insert(key.to_string(), json!(value));
            }
            selector.insert("labels".into(), Value::Object(labels));
        }
        if !self.room_metadata.is_empty() {
            let mut metadata = Map::new();
            for pair in &self.room_metadata {
                let (key, value) = split(pair, "room-metadata")?;
                let value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
                metadata.insert(key.to_string(), value);
            }
            selector.insert("metadata".into(), Value::Object(metadata));
        }
        if !self.regions.is_empty() {
            selector.insert("regions".into(), json!(self.regions));
        }
        let mut body = Map::new();
        if !selector.is_empty() {
            body.insert("selector".into(), Value::Object(selector));
        }
        if let Some(metadata) = &self.metadata {
            let value: Value = serde_json::from_str(metadata)
                .map_err(|e| CliError::Input(format!("metadata: not JSON: {e}")))?;
            body.insert("metadata".into(), value);
        }
        if let Some(ttl) = self.ttl {
            body.insert("ttl".into(), json!(ttl));
        }
        Ok(Value::Object(body))
    }
}

fn split<'a>(pair: &'a str, flag: &str) -> Result<(&'a str, &'a str), CliError> {
    pair.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| CliError::Input(format!("{flag}: `{pair}` is not KEY=VALUE")))
}

pub async fn run(connection: &Connection, args: AllocateArgs) -> Result<(), CliError> {
    let body = args.body()?;
    let client = connection.client()?;
    let answer = client
        .send(
            Method::POST,
            &["schedulers", &args.scheduler, "allocations"],
            &[],
            Some(Body::Json(body)),
        )
        .await?;
    output::print(connection.output, &answer, |v| {
        let mut row = v.clone();
        if let Some(ports) = v["ports"].as_array() {
            let ports: Vec<String> = ports
                .iter()
                .map(|p| format!("{}:{}", output::text(&p["name"]), output::text(&p["port"])))
                .collect();
            row["ports"] = json!(ports.join(","));
        }
        Table::of(
            std::slice::from_ref(&row),
            &[
                ("ROOM", "/roomId"),
                ("HOST", "/host"),
                ("PORTS", "/ports"),
                ("REGION", "/region"),
                ("CLAIM", "/claimId"),
                ("EXPIRES", "/expiresAt"),
            ],
        )
    })
}

pub async fn release(
    connection: &Connection,
    scheduler: &str,
    claim: &str,
) -> Result<(), CliError> {
    let client = connection.client()?;
    let answer = client
        .send(
            Method::DELETE,
            &["schedulers", scheduler, "allocations", claim],
            &[],
            None,
        )
        .await?;
    output::print(connection.output, &answer, |v| {
        Table::of(
            std::slice::from_ref(v),
            &[
                ("CLAIM", "/id"),
                ("ROOM", "/room"),
                ("EXPIRES", "/expiresAt"),
            ],
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: AllocateArgs,
    }

    #[test]
    fn flags_become_the_selector_and_claim_options() {
        let args = Wrapper::try_parse_from([
            "x",
            "arena",
            "--version",
            "v2",
            "--label",
            "tier=gold",
            "--room-metadata",
            "map=\"dust\"",
            "--room-metadata",
            "size=4",
            "--region",
            "eu",
            "--region",
            "us",
            "--metadata",
            "{\"match\":\"m1\"}",
            "--ttl",
            "30",
        ])
        .unwrap()
        .args;
        assert_eq!(
            args.body().unwrap(),
            json!({
                "selector": {"version": "v2", "labels": {"tier": "gold"},
                    "metadata": {"map": "dust", "size": 4}, "regions": ["eu", "us"]},
                "metadata": {"match": "m1"}, "ttl": 30
            })
        );
        let bad = Wrapper::try_parse_from(["x", "arena", "--label", "nokey"])
            .unwrap()
            .args;
        assert!(matches!(bad.body(), Err(CliError::Input(_))));
    }
}
