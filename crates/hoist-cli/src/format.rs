//! `--format`: the output choices docker's CLI offers, over rows given as JSON objects.
//!
//! - `json`: every row as JSON (an array for list commands);
//! - `table` (alone): the command's default table;
//! - a Go template, evaluated once per row: `{{.Repository}}:{{.Tag}}`, `{{.Config.Env}}`,
//!   `{{json .}}`, `{{json .Config}}`, `{{upper .Tag}}`, `{{lower …}}`, `{{join .RepoTags ","}}`;
//! - `table TEMPLATE`: the same, with a header row (each field's column name) and columns
//!   aligned as docker's `tabwriter` aligns them.
//!
//! As docker's formatter does, the two-character sequences `\t` and `\n` typed in a format
//! become a tab and a newline. Values print as Go's `text/template` prints them: strings bare,
//! `<no value>` for a missing field, lists as `[a b]`, objects as `map[k:v]`.
//!
//! Why not a crate: the one Go-template engine on crates.io, `gtmpl`, last released in 2021,
//! has neither docker's `json` function nor `table`, and would need its own value type for
//! every row; this evaluator covers the subset docker users type, over `serde_json::Value`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::failure::CliError;

/// A parsed `--format`.
#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// The command's default output (`table`, or no `--format`).
    Default,
    /// `json`.
    Json,
    /// A template, with a header row when it began with `table`.
    Template {
        /// Whether to print a header row and align columns.
        table: bool,
        /// The parsed template.
        parts: Vec<Part>,
    },
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Text printed as is.
    Text(String),
    /// `{{FUNC .Path ARGS}}` or `{{.Path}}`.
    Action {
        /// `json`, `upper`, `lower`, `join`, or `None` for a bare field.
        function: Option<String>,
        /// The field path (`[]` for `.`).
        path: Vec<String>,
        /// Extra string arguments (`join`'s separator).
        args: Vec<String>,
    },
}

impl Format {
    /// Parses `--format`'s value (`None`: the default).
    pub fn parse(input: Option<&str>) -> Result<Format, CliError> {
        let Some(input) = input else {
            return Ok(Format::Default);
        };
        match input.trim() {
            "" | "table" => return Ok(Format::Default),
            "json" => return Ok(Format::Json),
            _ => {}
        }
        let (table, body) = match input.strip_prefix("table") {
            Some(rest) if rest.starts_with([' ', '\t']) || rest.starts_with("\\t") => {
                (true, rest.trim_start_matches(' '))
            }
            _ => (false, input),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Format::Template {
            table,
            parts: parse_template(&body)?,
        })
    }

    /// Renders `rows` with this format; `default` renders the command's own output, and
    /// `header` names a field's column for `table` templates.
    pub fn render(
        &self,
        rows: &[Value],
        header: impl Fn(&str) -> String,
        default: impl FnOnce() -> String,
    ) -> Result<String, CliError> {
        match self {
            Format::Default => Ok(default()),
            Format::Json => Ok(crate::commands::to_json_pretty(&rows)),
            Format::Template { table, parts } => {
                let mut lines = Vec::new();
                if *table {
                    lines.push(render_header(parts, &header));
                }
                for row in rows {
                    lines.push(render_row(parts, row)?);
                }
                let text = if *table {
                    align(&lines)
                } else {
                    lines.join("\n")
                };
                Ok(text)
            }
        }
    }
}

fn parse_template(body: &str) -> Result<Vec<Part>, CliError> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| bad(body, "an action is not closed with }}"))?;
        parts.push(parse_action(body, after[..end].trim())?);
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

fn parse_action(body: &str, action: &str) -> Result<Part, CliError> {
    let words = split_words(action);
    let (function, field, args) = match words.as_slice() {
        [field] if field.starts_with('.') => (None, field.as_str(), &[][..]),
        [function, field, args @ ..] if field.starts_with('.') => {
            let known = ["json", "upper", "lower", "join"];
            if !known.contains(&function.as_str()) {
                return Err(bad(
                    body,
                    &format!(
                        "function {function:?} is not known (known: {})",
                        known.join(", ")
                    ),
                ));
            }
            (Some(function.clone()), field.as_str(), args)
        }
        _ => {
            return Err(bad(
                body,
                &format!("cannot read the action {{{{{action}}}}}"),
            ))
        }
    };
    let path = field
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Part::Action {
        function,
        path,
        args: args.to_vec(),
    })
}

/// Words of an action; `"quoted strings"` are one word, unquoted.
fn split_words(action: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = action.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            words.push(quoted[..end].to_owned());
            rest = quoted.get(end + 1..).unwrap_or("").trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
    }
    words
}

fn bad(format: &str, reason: &str) -> CliError {
    CliError::Arguments(format!("invalid --format {format:?}: {reason}"))
}

fn render_row(parts: &[Part], row: &Value) -> Result<String, CliError> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Action {
                function,
                path,
                args,
            } => {
                let value = lookup(row, path);
                out.push_str(&apply(function.as_deref(), value, args));
            }
        }
    }
    Ok(out)
}

fn lookup<'a>(row: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(row, |value, key| value.get(key))
}

fn apply(function: Option<&str>, value: Option<&Value>, args: &[String]) -> String {
    match function {
        Some("json") => serde_json::to_string(value.unwrap_or(&Value::Null)).unwrap_or_default(),
        Some("upper") => go_print(value).to_uppercase(),
        Some("lower") => go_print(value).to_lowercase(),
        Some("join") => match value {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| go_print(Some(v)))
                .collect::<Vec<_>>()
                .join(args.first().map_or("", String::as_str)),
            other => go_print(other),
        },
        _ => go_print(value),
    }
}

/// A value as Go's `text/template` prints it.
fn go_print(value: Option<&Value>) -> String {
    match value {
        None => "<no value>".to_owned(),
        Some(Value::Null) => "<nil>".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) => format!(
            "[{}]",
            items
                .iter()
                .map(|v| go_print(Some(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Some(Value::Object(map)) => {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            let inner: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_print(Some(v))))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
    }
}

fn render_header(parts: &[Part], header: &impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Action { path, .. } => out.push_str(&header(&path.join("."))),
        }
    }
    out
}

/// docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` over tab-separated cells: every
/// column but the last padded to max(10, widest cell + 3).
pub fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; columns];
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max(cell.chars().count() + 3).max(10);
            }
        }
    }
    let mut out = Vec::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push(line.trim_end().to_owned());
    }
    out.join("\n")
}

/// The column name docker's formatters give a field: `CreatedSince` ⇒ `CREATED SINCE`,
/// `ID` ⇒ `ID` (commands map their own exceptions first).
pub fn default_header(field: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let boundary = i > 0
            && c.is_uppercase()
            && (chars[i - 1].is_lowercase() || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
        if boundary {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(format: &str, rows: &[Value]) -> String {
        Format::parse(Some(format))
            .unwrap()
            .render(rows, default_header, || "default".into())
            .unwrap()
    }

    #[test]
    fn fields_and_text_are_rendered_per_row() {
        let rows = [
            json!({"Repository": "a", "Tag": "1"}),
            json!({"Repository": "b", "Tag": "2"}),
        ];
        assert_eq!(render("{{.Repository}}:{{.Tag}}", &rows), "a:1\nb:2");
    }

    #[test]
    fn json_function_prints_compact_json() {
        let rows = [json!({"Id": "x", "Config": {"Env": ["A=1"]}})];
        assert_eq!(render("{{json .Config}}", &rows), r#"{"Env":["A=1"]}"#);
        assert_eq!(
            render("{{json .}}", &rows),
            r#"{"Config":{"Env":["A=1"]},"Id":"x"}"#
        );
    }

    #[test]
    fn table_adds_a_header_and_aligns_columns() {
        let rows = [json!({"Repository": "alpine", "Tag": "3.20"})];
        assert_eq!(
            render("table {{.Repository}}\\t{{.Tag}}", &rows),
            "REPOSITORY   TAG\nalpine       3.20"
        );
    }

    #[test]
    fn missing_fields_and_lists_print_as_go_does() {
        let rows = [json!({"Tags": ["a", "b"]})];
        assert_eq!(
            render("{{.Nope}} {{.Tags}} {{join .Tags \",\"}}", &rows),
            "<no value> [a b] a,b"
        );
    }

    #[test]
    fn json_and_table_words_choose_the_builtin_outputs() {
        assert_eq!(Format::parse(Some("json")).unwrap(), Format::Json);
        assert_eq!(Format::parse(Some("table")).unwrap(), Format::Default);
        assert_eq!(Format::parse(None).unwrap(), Format::Default);
    }

    #[test]
    fn unknown_functions_and_unclosed_actions_are_usage_errors() {
        for bad in ["{{printf .A}}", "{{.A"] {
            let err = Format::parse(Some(bad)).unwrap_err();
            assert!(matches!(err, CliError::Arguments(_)), "{err}");
        }
    }

    #[test]
    fn headers_split_camel_case() {
        assert_eq!(default_header("CreatedSince"), "CREATED SINCE");
        assert_eq!(default_header("ID"), "ID");
        assert_eq!(default_header("RepoTags"), "REPO TAGS");
    }
}
