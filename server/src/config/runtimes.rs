//! Several runtimes at once, each named and tagged with a region, read from a TOML file
//! (`--runtimes FILE`, `BATON_RUNTIMES`):
//!
//! ```toml
//! default = "eu"            # optional: the first entry otherwise
//! [[runtime]]
//! name = "eu"
//! region = "eu-west"
//! kind = "local"
//! rooms_dir = "/var/lib/baton/eu"   # optional: <--local-rooms-dir>/<name> otherwise
//! [[runtime]]
//! name = "us"
//! region = "us-east"
//! kind = "kubernetes"
//! context = "kind-us"        # kubeconfig context; the current one otherwise
//! api_max_in_flight = 40     # optional, kubernetes only: API calls in flight at most
//! api_calls_per_second = 2000  # optional, kubernetes only: calls started per second (0: no limit)
//! [runtime.machine_labels]   # optional, kubernetes only: the node labels of machine facts
//! kind = "baton.dev/machine-kind"   # `bare-metal` or `cloud`
//! default_kind = "cloud"            # the kind of a node without that label
//! core_mhz = "baton.dev/core-mhz"
//! io_mbps = "baton.dev/io-mbps"     # "" = not read (then not required by placement)
//! inet_mbps = "baton.dev/inet-mbps"
//! ```
//!
//! Without the file, one runtime from `--runtime`, named and tagged [`DEFAULT_REGION`].

use std::path::{Path, PathBuf};

use app::domain::region::DEFAULT_REGION;
use serde::Deserialize;
use toml::Spanned;

use super::{Config, RuntimeKind};
use crate::adapters::runtime::kubernetes::{
    ApiLimits, DEFAULT_MAX_IN_FLIGHT, DEFAULT_PER_SECOND, MachinesConfig,
};
use app::domain::capacity::MachineKind;

/// How one runtime is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeSpec {
    /// Processes on this host, each room's directory under `rooms_dir`.
    Local { rooms_dir: PathBuf },
    /// A Kubernetes cluster: the kubeconfig's `context`, or the current context (or in-cluster)
    /// when `None`; its nodes' machine facts read from the labels `machines` names.
    Kubernetes {
        context: Option<String>,
        machines: MachinesConfig,
        api_limits: ApiLimitsConfig,
    },
}

/// The client-side limit on a Kubernetes runtime's API calls (see `ApiLimits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiLimitsConfig {
    /// Calls in flight at most (at least one).
    pub max_in_flight: u32,
    /// Calls started per second at most; 0: no rate limit.
    pub calls_per_second: u32,
}

impl Default for ApiLimitsConfig {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT as u32,
            calls_per_second: DEFAULT_PER_SECOND as u32,
        }
    }
}

impl ApiLimitsConfig {
    pub fn limits(&self) -> ApiLimits {
        ApiLimits::new(
            self.max_in_flight as usize,
            (self.calls_per_second > 0).then_some(f64::from(self.calls_per_second)),
        )
    }
}

/// One configured runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeEntry {
    pub name: String,
    pub region: String,
    pub spec: RuntimeSpec,
}

/// Every runtime, one per region, and which is the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimesConfig {
    pub runtimes: Vec<RuntimeEntry>,
    /// Index of the default runtime in `runtimes`.
    pub default: usize,
}

impl RuntimesConfig {
    pub fn default_entry(&self) -> &RuntimeEntry {
        &self.runtimes[self.default]
    }

    /// One entry per runtime, for the start-up log.
    pub fn describe(&self) -> String {
        self.runtimes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let how = match &r.spec {
                    RuntimeSpec::Local { rooms_dir } => {
                        format!("local rooms_dir={}", rooms_dir.display())
                    }
                    RuntimeSpec::Kubernetes { context, .. } => format!(
                        "kubernetes context={}",
                        context.as_deref().unwrap_or("(current)")
                    ),
                };
                let default = if i == self.default { ", default" } else { "" };
                format!("{}(region {}{default}: {how})", r.name, r.region)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Why the runtimes file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RuntimesFileError {
    #[error("runtimes file {file}: {message}")]
    Read { file: PathBuf, message: String },
    /// Bad TOML or a field of the wrong type (toml's message names the line and the field).
    #[error("runtimes file {file}: {message}")]
    Syntax { file: PathBuf, message: String },
    #[error("runtimes file {file}, line {line}, {field}: {message}")]
    Field {
        file: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    default: Option<Spanned<String>>,
    #[serde(default)]
    runtime: Vec<EntryText>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum KindText {
    Local,
    Kubernetes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryText {
    name: Spanned<String>,
    region: Spanned<String>,
    kind: KindText,
    rooms_dir: Option<Spanned<PathBuf>>,
    context: Option<Spanned<String>>,
    machine_labels: Option<Spanned<LabelsText>>,
    api_max_in_flight: Option<Spanned<u32>>,
    api_calls_per_second: Option<Spanned<u32>>,
}

/// `[runtime.machine_labels]`: each field the name of a node label; missing ones keep Baton's.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsText {
    kind: Option<Spanned<String>>,
    default_kind: Option<MachineKind>,
    core_mhz: Option<Spanned<String>>,
    io_mbps: Option<Spanned<String>>,
    inet_mbps: Option<Spanned<String>>,
}

/// A Kubernetes label key: an optional DNS-subdomain prefix (at most 253 characters) and `/`,
/// then a name of 1-63 letters, digits, `-`, `_` or `.` beginning and ending with a letter or
/// digit. Empty: the label is not read.
fn is_label_key(text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let (prefix, name) = match text.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, text),
    };
    let edges = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && edges(name)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && edges(part)
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    name_ok && prefix_ok
}

/// A name of one to 63 letters, digits, `-`, `_` or `.` (as scheduler regions are checked).
fn is_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Reads the runtimes file `text` (from `file`); local runtimes without a `rooms_dir` get
/// `<rooms_root>/<name>`.
pub fn parse(
    file: &Path,
    text: &str,
    rooms_root: &Path,
) -> Result<RuntimesConfig, RuntimesFileError> {
    let parsed: FileText = toml::from_str(text).map_err(|err| RuntimesFileError::Syntax {
        file: file.to_path_buf(),
        message: err.to_string().trim_end().replace('\n', " | "),
    })?;
    let line =
        |span: std::ops::Range<usize>| text[..span.start.min(text.len())].matches('\n').count() + 1;
    let fail = |span, field: String, message: String| RuntimesFileError::Field {
        file: file.to_path_buf(),
        line: line(span),
        field,
        message,
    };
    if parsed.runtime.is_empty() {
        return Err(fail(0..0, "runtime".into(), "lists no [[runtime]]".into()));
    }
    let mut runtimes: Vec<RuntimeEntry> = Vec::new();
    for (i, entry) in parsed.runtime.iter().enumerate() {
        let at = |field: &str| format!("runtime[{i}].{field}");
        for (field, value) in [("name", &entry.name), ("region", &entry.region)] {
            if !is_name(value.get_ref()) {
                return Err(fail(
                    value.span(),
                    at(field),
                    "must be 1-63 letters, digits, '-', '_' or '.'".into(),
                ));
            }
        }
        let (name, region) = (entry.name.get_ref(), entry.region.get_ref());
        if let Some(other) = runtimes.iter().position(|r| r.name == *name) {
            return Err(fail(
                entry.name.span(),
                at("name"),
                format!("{name} is also the name of runtime[{other}]"),
            ));
        }
        if let Some(other) = runtimes.iter().position(|r| r.region == *region) {
            return Err(fail(
                entry.region.span(),
                at("region"),
                format!("region {region} already has runtime[{other}]: one runtime per region"),
            ));
        }
        let spec = match entry.kind {
            KindText::Local => {
                if let Some(context) = &entry.context {
                    return Err(fail(
                        context.span(),
                        at("context"),
                        "only for kind = \"kubernetes\"".into(),
                    ));
                }
                if let Some(labels) = &entry.machine_labels {
                    return Err(fail(
                        labels.span(),
                        at("machine_labels"),
                        "only for kind = \"kubernetes\"".into(),
                    ));
                }
                for (field, value) in [
                    ("api_max_in_flight", &entry.api_max_in_flight),
                    ("api_calls_per_second", &entry.api_calls_per_second),
                ] {
                    if let Some(value) = value {
                        return Err(fail(
                            value.span(),
                            at(field),
                            "only for kind = \"kubernetes\"".into(),
                        ));
                    }
                }
                let rooms_dir = match &entry.rooms_dir {
                    Some(dir) => dir.get_ref().clone(),
                    None => rooms_root.join(name),
                };
                let shared = runtimes.iter().position(|r| {
                    matches!(&r.spec, RuntimeSpec::Local { rooms_dir: theirs } if nested(theirs, &rooms_dir))
                });
                if let Some(other) = shared {
                    let span = entry
                        .rooms_dir
                        .as_ref()
                        .map_or(entry.name.span(), |d| d.span());
                    return Err(fail(
                        span,
                        at("rooms_dir"),
                        format!(
                            "{} is, holds or is inside the rooms dir of runtime[{other}]: \
                             local runtimes keep their rooms apart",
                            rooms_dir.display()
                        ),
                    ));
                }
                RuntimeSpec::Local { rooms_dir }
            }
            KindText::Kubernetes => {
                if let Some(dir) = &entry.rooms_dir {
                    return Err(fail(
                        dir.span(),
                        at("rooms_dir"),
                        "only for kind = \"local\"".into(),
                    ));
                }
                let mut machines = MachinesConfig::default();
                if let Some(labels) = &entry.machine_labels {
                    let labels = labels.get_ref();
                    for (field, value, into) in [
                        ("kind", &labels.kind, &mut machines.kind_label),
                        ("core_mhz", &labels.core_mhz, &mut machines.core_mhz_label),
                        ("io_mbps", &labels.io_mbps, &mut machines.io_mbps_label),
                        (
                            "inet_mbps",
                            &labels.inet_mbps,
                            &mut machines.inet_mbps_label,
                        ),
                    ] {
                        let Some(value) = value else { continue };
                        if !is_label_key(value.get_ref()) {
                            return Err(fail(
                                value.span(),
                                at(&format!("machine_labels.{field}")),
                                "must be a Kubernetes label key ([prefix/]name), or empty".into(),
                            ));
                        }
                        *into = value.get_ref().clone();
                    }
                    if let Some(kind) = labels.default_kind {
                        machines.default_kind = kind;
                    }
                }
                let mut api_limits = ApiLimitsConfig::default();
                if let Some(max) = &entry.api_max_in_flight {
                    if *max.get_ref() == 0 {
                        return Err(fail(
                            max.span(),
                            at("api_max_in_flight"),
                            "must be at least 1".into(),
                        ));
                    }
                    api_limits.max_in_flight = *max.get_ref();
                }
                if let Some(rate) = &entry.api_calls_per_second {
                    api_limits.calls_per_second = *rate.get_ref();
                }
                RuntimeSpec::Kubernetes {
                    context: entry.context.as_ref().map(|c| c.get_ref().clone()),
                    machines,
                    api_limits,
                }
            }
        };
        runtimes.push(RuntimeEntry {
            name: name.clone(),
            region: region.clone(),
            spec,
        });
    }
    let default = match &parsed.default {
        None => 0,
        Some(name) => runtimes
            .iter()
            .position(|r| r.name == *name.get_ref())
            .ok_or_else(|| {
                let known: Vec<&str> = runtimes.iter().map(|r| r.name.as_str()).collect();
                fail(
                    name.span(),
                    "default".into(),
                    format!("names no runtime (runtimes: {})", known.join(", ")),
                )
            })?,
    };
    Ok(RuntimesConfig { runtimes, default })
}

impl Config {
    /// The runtimes in force: those of the runtimes file, else one from `--runtime`.
    pub fn runtimes(&self) -> Result<RuntimesConfig, RuntimesFileError> {
        let Some(file) = &self.runtimes else {
            let spec = match self.runtime {
                RuntimeKind::Local => RuntimeSpec::Local {
                    rooms_dir: self.local_rooms_dir.clone(),
                },
                RuntimeKind::Kubernetes => RuntimeSpec::Kubernetes {
                    context: None,
                    machines: MachinesConfig::default(),
                    api_limits: ApiLimitsConfig::default(),
                },
            };
            return Ok(RuntimesConfig {
                runtimes: vec![RuntimeEntry {
                    name: DEFAULT_REGION.to_string(),
                    region: DEFAULT_REGION.to_string(),
                    spec,
                }],
                default: 0,
            });
        };
        let text = std::fs::read_to_string(file).map_err(|err| RuntimesFileError::Read {
            file: file.clone(),
            message: err.to_string(),
        })?;
        parse(file, &text, &self.local_rooms_dir)
    }
}

#[cfg(test)]
mod tests;
