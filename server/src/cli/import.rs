//! `baton import [--dry-run] FILE`: a Maestro v10 scheduler (JSON or YAML, the API's shape), a
//! Maestro v9 scheduler (YAML, mapped by [`super::maestro_v9`]) or a zeuz `AllocationDef`
//! (JSON, sent to `POST /allocations`), taken as they are.

use std::path::PathBuf;

use app::domain::capacity::zeuz::{AllocationDef, NotMapped};
use app::domain::scheduler::SchedulerConfig;
use app::domain::validation::FieldError;
use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

use super::connection::{Body, Connection};
use super::error::CliError;
use super::maestro_v9;
use super::output::{self, Format, Table};
use super::schedulers::{WaitArg, read_document};

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The file (`-` for stdin).
    pub file: PathBuf,
    /// Show the scheduler that would be created and what was dropped; create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What the file is (default: recognized from its fields).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    #[command(flatten)]
    pub wait: WaitArg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Maestro v10's scheduler (Baton's API shape).
    MaestroV10,
    /// Maestro v9's scheduler YAML.
    MaestroV9,
    /// zeuz's AllocationDef plus Name and Game.
    Zeuz,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::MaestroV10 => "maestro-v10",
            Self::MaestroV9 => "maestro-v9",
            Self::Zeuz => "zeuz",
        }
    }
}

/// What a document is, from its fields: zeuz's are PascalCase, v10's scheduler has a `spec`,
/// v9's has its container at the top or a top-level `containers` list.
pub fn detect(doc: &Value) -> Option<Kind> {
    let object = doc.as_object()?;
    let has = |key: &str| object.contains_key(key);
    if ["Name", "Game", "ScalingRules", "Regions", "MachineMinSpec"]
        .iter()
        .any(|k| has(k))
    {
        Some(Kind::Zeuz)
    } else if has("spec") {
        Some(Kind::MaestroV10)
    } else if [
        "image",
        "containers",
        "shutdownTimeout",
        "occupiedTimeout",
        "cmd",
    ]
    .iter()
    .any(|k| has(k))
    {
        Some(Kind::MaestroV9)
    } else {
        None
    }
}

fn invalid(errors: Vec<FieldError>) -> CliError {
    let message = match &errors[..] {
        [one] => format!("{}: {}", one.field, one.message),
        _ => "the file is invalid".to_string(),
    };
    CliError::Invalid { message, errors }
}

/// The scheduler a file describes (as Baton would create it when new) and what it dropped.
pub fn preview(kind: Kind, doc: &Value) -> Result<(SchedulerConfig, Vec<NotMapped>), CliError> {
    let (config, dropped) = match kind {
        Kind::MaestroV10 => {
            let config = serde_path_to_error::deserialize(doc).map_err(|e| {
                invalid(vec![FieldError {
                    field: e.path().to_string(),
                    message: e.inner().to_string(),
                }])
            })?;
            (config, Vec::new())
        }
        Kind::MaestroV9 => maestro_v9::to_scheduler(doc).map_err(invalid)?,
        Kind::Zeuz => {
            let def: AllocationDef = serde_path_to_error::deserialize(doc).map_err(|e| {
                invalid(vec![FieldError {
                    field: e.path().to_string(),
                    message: e.inner().to_string(),
                }])
            })?;
            def.to_scheduler(None)
        }
    };
    config.validate().map_err(invalid)?;
    Ok((config, dropped))
}

pub async fn run(connection: &Connection, args: ImportArgs) -> Result<(), CliError> {
    let document = read_document(&args.file)?;
    let kind = match args.kind.or_else(|| detect(&document.value)) {
        Some(kind) => kind,
        None => {
            return Err(CliError::Input(format!(
                "{}: not a Maestro v10 or v9 scheduler nor a zeuz AllocationDef (use --kind)",
                args.file.display()
            )));
        }
    };
    let (config, mut dropped) = preview(kind, &document.value)?;
    let scheduler = serde_json::to_value(&config).map_err(|e| CliError::Input(e.to_string()))?;
    let mut answer = json!({
        "kind": kind.name(),
        "dryRun": args.dry_run,
        "scheduler": scheduler,
    });
    if !args.dry_run {
        let client = connection.client()?;
        let (path, body): (&[&str], Body) = match kind {
            Kind::MaestroV10 => (
                &["schedulers"],
                Body::Raw(document.content_type, document.bytes),
            ),
            Kind::MaestroV9 => (&["schedulers"], Body::Json(scheduler.clone())),
            Kind::Zeuz => (&["allocations"], Body::Json(document.value.clone())),
        };
        let created = client
            .send(Method::POST, path, &args.wait.query(), Some(body))
            .await?;
        if kind == Kind::Zeuz {
            // The server's mapping (onto the scheduler of that name, when there is one).
            dropped = serde_json::from_value(created["notMapped"].clone()).unwrap_or_default();
        }
        answer["operationId"] = created["operationId"].clone();
        answer["created"] = created;
    }
    answer["dropped"] = serde_json::to_value(&dropped).unwrap_or_default();
    match connection.output {
        Format::Table => {
            print!("{}", describe(&answer)?);
            Ok(())
        }
        format => output::print(format, &answer, output::key_values),
    }
}

/// The import for people: the scheduler as YAML, then what was dropped.
fn describe(answer: &Value) -> Result<String, CliError> {
    let mut text = String::new();
    let kind = output::text(&answer["kind"]);
    if answer["dryRun"] == true {
        text.push_str(&format!("# {kind} file: the scheduler it would create\n"));
    } else {
        text.push_str(&format!(
            "# {kind} file imported: operation {}\n",
            output::text(&answer["operationId"])
        ));
    }
    text.push_str(&output::render(
        Format::Yaml,
        &answer["scheduler"],
        output::key_values,
    )?);
    let dropped = answer["dropped"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if dropped.is_empty() {
        text.push_str("# nothing dropped\n");
    } else {
        text.push_str("\n# dropped or defaulted:\n");
        text.push_str(&Table::of(dropped, &[("FIELD", "/field"), ("WHY", "/message")]).to_string());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_recognized_by_their_fields() {
        assert_eq!(
            detect(&json!({"Name": "a", "ScalingRules": {}})),
            Some(Kind::Zeuz)
        );
        assert_eq!(
            detect(&json!({"name": "a", "spec": {}})),
            Some(Kind::MaestroV10)
        );
        assert_eq!(
            detect(&json!({"name": "a", "image": "i"})),
            Some(Kind::MaestroV9)
        );
        assert_eq!(
            detect(&json!({"name": "a", "containers": []})),
            Some(Kind::MaestroV9)
        );
        assert_eq!(detect(&json!({"name": "a"})), None);
        assert_eq!(detect(&json!([1])), None);
    }
}
