//! `hoist history [--no-trunc] [-q] [-H=false] [--format F] REF`: docker's `image history`,
//! for a stored image (REF as `hoist inspect` takes it) or, with `docker://REF`, an image in
//! its registry read without pulling it (crane users' `config | jq .history`).
//!
//! Rows come from [`hoist::view::history_rows`] (the config's `history`, newest first). The
//! table is docker's `IMAGE  CREATED  CREATED BY  SIZE  COMMENT`: the newest row's short
//! image ID and `<missing>` below it, "N days ago", CREATED BY cut to 45 characters with
//! `…` unless `--no-trunc`, sizes as `HumanSizeWithPrecision(size, 3)`. A stored image's
//! sizes are its unpacked layer sizes ([`hoist::images::image_sizes`], as docker shows);
//! a remote image's are the compressed sizes its manifest lists (nothing else is known
//! without downloading the layers). `-H=false` prints bytes and RFC 3339 times; `-q` the
//! IDs only; `--format` a Go template over `ID`, `CreatedSince`, `CreatedAt`, `CreatedBy`,
//! `Size`, `Comment`, or `json`.

use std::time::SystemTime;

use hoist::copy::RegistryImage;
use hoist::credentials::CredentialStore;
use hoist::digest::Digest;
use hoist::images::created::format_rfc3339;
use hoist::images::{image_sizes, resolve_image, short_id};
use hoist::media::MAX_CONFIG_SIZE;
use hoist::view::{history_rows, HistoryRow, ImageView};
use serde_json::{json, Value};

use crate::cli::{GlobalArgs, HistoryArgs};
use crate::commands::registry::{chosen, platform_arg, registry_reference};
use crate::commands::session::{client, runtime};
use crate::config::Config;
use crate::failure::CliError;
use crate::format::{align, default_header, Format};
use crate::root::open_store;
use crate::units::{human_duration, human_size};

/// docker's `Ellipsis` width for CREATED BY.
const CREATED_BY_WIDTH: usize = 45;

/// Runs `hoist history`.
pub fn run(
    args: &HistoryArgs,
    global: &GlobalArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<(), CliError> {
    let format = Format::parse(args.format.as_deref())?;
    let rows = match args.reference.strip_prefix("docker://") {
        Some(_) => remote_rows(args, config, credentials)?,
        None => local_rows(args, global)?,
    };
    let now = SystemTime::now();
    let values: Vec<Value> = rows.iter().map(|r| row_value(r, args, now)).collect();
    let text = if args.quiet {
        values
            .iter()
            .map(|v| v["ID"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        format.render(&values, header, || table(&values))?
    };
    if !text.is_empty() {
        crate::outln!("{text}");
    }
    Ok(())
}

fn local_rows(args: &HistoryArgs, global: &GlobalArgs) -> Result<Vec<HistoryRow>, CliError> {
    let meta = open_store(global.root.as_ref())?;
    let image = resolve_image(&meta, &args.reference)?;
    let bytes = meta
        .content()
        .read_to_vec_capped(&image.image_id, MAX_CONFIG_SIZE as u64)?;
    let config = parse_config(&image.image_id, &bytes)?;
    let sizes = image_sizes(&meta, &image.record)?;
    Ok(history_rows(&image.image_id, &config, &sizes.layers))
}

fn remote_rows(
    args: &HistoryArgs,
    config: &Config,
    credentials: CredentialStore,
) -> Result<Vec<HistoryRow>, CliError> {
    let reference = registry_reference(&args.reference)?;
    let platform = platform_arg(args.platform.as_deref())?;
    let client = client(config, credentials)?;
    let source = RegistryImage::new(&client, &reference).reading_at_once();
    let view = ImageView::new(&source);
    let (image, bytes) = runtime()?.block_on(async {
        let image = chosen(&view, platform.as_ref()).await?;
        let bytes = view.config_bytes(&image).await.map_err(Box::new)?;
        Ok::<_, CliError>((image, bytes))
    })?;
    let image_id = image.manifest.config.digest.clone();
    let config = parse_config(&image_id, &bytes)?;
    let sizes: Vec<u64> = image.manifest.layers.iter().map(|l| l.size).collect();
    Ok(history_rows(&image_id, &config, &sizes))
}

fn parse_config(image_id: &Digest, bytes: &[u8]) -> Result<Value, CliError> {
    serde_json::from_slice(bytes)
        .map_err(|e| CliError::Usage(format!("the config {image_id} is not valid JSON: {e}")))
}

/// One row as the template fields docker's history formatter offers.
fn row_value(row: &HistoryRow, args: &HistoryArgs, now: SystemTime) -> Value {
    let trunc = !args.no_trunc;
    let id = match &row.id {
        Some(id) if trunc => short_id(id).to_owned(),
        Some(id) => id.to_string(),
        None => "<missing>".to_owned(),
    };
    let created_by = row.created_by.replace('\t', " ");
    let created_by = if trunc {
        ellipsis(&created_by, CREATED_BY_WIDTH)
    } else {
        created_by
    };
    let created_at = row.created.map(format_rfc3339).unwrap_or_default();
    let since = match row.created {
        Some(t) if args.human => format!(
            "{} ago",
            human_duration(now.duration_since(t).unwrap_or_default())
        ),
        Some(_) => created_at.clone(),
        None => "N/A".to_owned(),
    };
    let size = if args.human {
        human_size(row.size, 3)
    } else {
        row.size.to_string()
    };
    json!({
        "ID": id,
        "CreatedSince": since,
        "CreatedAt": created_at,
        "CreatedBy": created_by,
        "Size": size,
        "Comment": row.comment,
    })
}

/// docker's `stringutils.Ellipsis`: at most `width` characters, the last one `…` when cut.
fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

fn header(field: &str) -> String {
    match field {
        "ID" => "IMAGE".to_owned(),
        "CreatedSince" | "CreatedAt" => "CREATED".to_owned(),
        other => default_header(other),
    }
}

/// docker's default history table.
fn table(rows: &[Value]) -> String {
    let mut lines = vec!["IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT".to_owned()];
    for row in rows {
        let cell = |key: &str| row[key].as_str().unwrap_or_default().to_owned();
        lines.push(
            [
                cell("ID"),
                cell("CreatedSince"),
                cell("CreatedBy"),
                cell("Size"),
                cell("Comment"),
            ]
            .join("\t"),
        );
    }
    align(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ellipsis_cuts_to_the_width_with_a_mark() {
        assert_eq!(ellipsis("short", 45), "short");
        let long = "x".repeat(50);
        let cut = ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }
}
