//! Printing: kubectl-like tables for people, the API's own objects as JSON or YAML for programs.

mod fields;
mod humanize;
mod table;

use std::io::Write;

use serde::Serialize;

pub(crate) use fields::{fields, time_and_age};
pub(crate) use humanize::{age_since, latency, percent, tokens, usd};
pub(crate) use table::{Table, one_line};

/// How a command prints what it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    /// Aligned columns (or the plain answer, for commands that answer).
    Table,
    /// The API's objects as JSON.
    Json,
    /// The API's objects as YAML.
    Yaml,
}

/// Print `value` as JSON or YAML; false for `Table`, which the caller renders itself.
pub(crate) fn print_object<T: Serialize>(format: OutputFormat, value: &T) -> anyhow::Result<bool> {
    let text = match format {
        OutputFormat::Table => return Ok(false),
        OutputFormat::Json => {
            let mut text = serde_json::to_string_pretty(value)?;
            text.push('\n');
            text
        }
        OutputFormat::Yaml => serde_yaml::to_string(value)?,
    };
    print_text(&text)?;
    Ok(true)
}

/// Print a list's table, or, like kubectl, say on stderr that there is nothing to list.
pub(crate) fn print_list(table: &Table, what: &str, namespace: &str) -> std::io::Result<()> {
    if table.is_empty() {
        eprintln!("No {what} found in namespace {namespace}.");
        return Ok(());
    }
    print_text(&table.render())
}

/// Write `text` to stdout as it is.
pub(crate) fn print_text(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Write `text` to stdout, ending with a newline if it does not already.
pub(crate) fn print_line(text: &str) -> std::io::Result<()> {
    if text.ends_with('\n') { print_text(text) } else { print_text(&format!("{text}\n")) }
}

/// Whether `err` is stdout closed by its reader (`| head`).
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
