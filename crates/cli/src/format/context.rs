//! docker's `--format` for list verbs (`ps`, `stats`, `compute ls`): `table` (the verb's default
//! columns), `table TEMPLATE` (a header row, then tab-separated cells aligned like
//! `text/tabwriter`), `json` (one object per line) or a bare template (one line per row).
//!
//! Rows are JSON objects whose keys are docker's field names (`ID`, `Names`, …) and whose values
//! are already the strings docker would print; the header row is the same template executed on
//! an object mapping each field to its column title.

use anyhow::Result;
use serde_json::{Map, Value};

use super::template::Template;
use super::Table;

/// A parsed `--format`.
#[derive(Debug)]
pub enum ListFormat {
    Table(Template),
    Raw(Template),
    Json,
}

impl ListFormat {
    /// `format` as typed (`None` or empty means the verb's default table, `default_table`).
    pub fn parse(format: Option<&str>, default_table: &str) -> Result<ListFormat> {
        let format = format.map(str::trim).filter(|f| !f.is_empty());
        let source = match format {
            None | Some("table") => default_table.to_string(),
            Some("json") => return Ok(ListFormat::Json),
            Some(f) => f.to_string(),
        };
        let source = source.replace("\\t", "\t").replace("\\n", "\n");
        match source.strip_prefix("table") {
            Some(rest) => Ok(ListFormat::Table(Template::parse(
                rest.trim_start_matches(' '),
            )?)),
            None => Ok(ListFormat::Raw(Template::parse(&source)?)),
        }
    }

    /// Renders `rows`; `titles` maps field names to column titles for the header.
    pub fn render(&self, titles: &[(&str, &str)], rows: &[Value]) -> Result<String> {
        match self {
            ListFormat::Json => Ok(rows.iter().map(|r| format!("{r}\n")).collect()),
            ListFormat::Raw(t) => rows
                .iter()
                .map(|r| t.execute(r).map(|s| s + "\n"))
                .collect(),
            ListFormat::Table(t) => {
                let header: Map<String, Value> = titles
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                    .collect();
                let header = t.execute(&Value::Object(header))?;
                let cells = |line: &str| line.split('\t').map(str::to_string).collect::<Vec<_>>();
                let mut table = Table::default();
                let mut lines = vec![header];
                for r in rows {
                    lines.push(t.execute(r)?);
                }
                for text in &lines {
                    for line in text.lines() {
                        table.row(cells(line));
                    }
                }
                Ok(table.render())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TITLES: &[(&str, &str)] = &[("ID", "CONTAINER ID"), ("Names", "NAMES")];

    #[test]
    fn table_json_and_raw() {
        let rows = [json!({"ID": "0123456789ab", "Names": "web"})];
        let f = ListFormat::parse(None, "table {{.ID}}\\t{{.Names}}").expect("parses");
        assert_eq!(
            f.render(TITLES, &rows).expect("renders"),
            "CONTAINER ID   NAMES\n0123456789ab   web\n"
        );
        let f = ListFormat::parse(Some("{{.Names}}"), "table").expect("parses");
        assert_eq!(f.render(TITLES, &rows).expect("renders"), "web\n");
        let f = ListFormat::parse(Some("json"), "table").expect("parses");
        assert_eq!(
            f.render(TITLES, &rows).expect("renders"),
            "{\"ID\":\"0123456789ab\",\"Names\":\"web\"}\n"
        );
    }
}
