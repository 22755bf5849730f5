//! How answers are printed: an aligned table for people, or the server's JSON (or the same as
//! YAML) for scripts.

use serde_json::Value;

use super::error::CliError;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Rows under a header, printed with aligned columns.
#[derive(Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// One row per element of `items`, each cell the text at a JSON pointer.
    pub fn of(items: &[Value], columns: &[(&str, &str)]) -> Self {
        let mut table = Self::new(&columns.iter().map(|(h, _)| *h).collect::<Vec<_>>());
        for item in items {
            table.row(
                columns
                    .iter()
                    .map(|(_, pointer)| text(item.pointer(pointer).unwrap_or(&Value::Null)))
                    .collect(),
            );
        }
        table
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(i) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let line = |f: &mut std::fmt::Formatter<'_>, cells: &[String]| {
            let last = cells.len().saturating_sub(1);
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                text.push_str(cell);
                if i < last {
                    let pad = widths
                        .get(i)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(cell.chars().count());
                    text.push_str(&" ".repeat(pad + 2));
                }
            }
            writeln!(f, "{}", text.trim_end())
        };
        line(f, &self.header)?;
        for row in &self.rows {
            line(f, row)?;
        }
        Ok(())
    }
}

/// A value as a table cell: strings bare, null empty, arrays of scalars comma-separated,
/// anything else as compact JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(text).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// A FIELD/VALUE table of an object's members.
pub fn key_values(value: &Value) -> Table {
    let mut table = Table::new(&["FIELD", "VALUE"]);
    if let Some(object) = value.as_object() {
        for (key, member) in object {
            table.row(vec![key.clone(), text(member)]);
        }
    }
    table
}

/// Prints `value` as asked: `table` renders it for people.
pub fn print(
    format: Format,
    value: &Value,
    table: impl FnOnce(&Value) -> Table,
) -> Result<(), CliError> {
    print!("{}", render(format, value, table)?);
    Ok(())
}

pub fn render(
    format: Format,
    value: &Value,
    table: impl FnOnce(&Value) -> Table,
) -> Result<String, CliError> {
    Ok(match format {
        Format::Table => table(value).to_string(),
        Format::Json => {
            let mut text =
                serde_json::to_string_pretty(value).map_err(|e| CliError::Input(e.to_string()))?;
            text.push('\n');
            text
        }
        Format::Yaml => {
            serde_yaml_ng::to_string(value).map_err(|e| CliError::Input(e.to_string()))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_align_columns_and_flatten_values() {
        let items = [
            json!({"name": "arena", "ports": [1, 2], "x": null}),
            json!({"name": "a", "ports": [], "x": {"k": 1}}),
        ];
        let table = Table::of(
            &items,
            &[("NAME", "/name"), ("PORTS", "/ports"), ("X", "/x")],
        );
        assert_eq!(
            table.to_string(),
            "NAME   PORTS  X\narena  1,2\na             {\"k\":1}\n"
        );
    }

    #[test]
    fn json_and_yaml_are_the_value_itself() {
        let value = json!({"a": 1});
        let json = render(Format::Json, &value, key_values).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), value);
        assert_eq!(render(Format::Yaml, &value, key_values).unwrap(), "a: 1\n");
    }
}
