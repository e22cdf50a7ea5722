//! `hoist images [-q] [--digests] [--no-trunc] [--filter K=V]… [--format F] [--json]
//! [REPOSITORY[:TAG]]`: docker's `images`.
//!
//! The table is docker's default format, `REPOSITORY  TAG  IMAGE ID  CREATED  SIZE` (with
//! `DIGEST` after `TAG` for `--digests`), laid out as docker's `tabwriter` does (columns at
//! least 10 wide, 3 spaces of padding): familiar repository names, `<none>` for a missing
//! repository or tag, the 12-character image ID (`--no-trunc`: the full `sha256:…`), "N days
//! ago" (go-units' `HumanDuration`; `N/A` without a creation time), the unpacked size as
//! `HumanSizeWithPrecision(size, 3)` (`206MB`, `74.8MB`), and a `PLATFORM` column when some
//! rows are platforms of one multi-platform image (`pull --all-platforms`). `-q` prints the
//! IDs only.
//!
//! The positional `REPOSITORY[:TAG]` keeps rows of that repository (the name normalised, so
//! `ubuntu` and `docker.io/library/ubuntu` are the same) or, as docker's, rows whose familiar
//! name matches it as a shell pattern (`'team/*'`). `--filter` is docker's
//! ([`hoist::images::ImageFilter`]). `--format` takes docker's template fields `.Repository`,
//! `.Tag`, `.Digest`, `.ID`, `.CreatedSince`, `.CreatedAt`, `.Size`, plus hoist's
//! `.CompressedSize` and `.Platform`; or `json`. `--json` prints every field in full (see
//! [`JsonRow`]). Rows come from [`hoist::images::list_images`].

use std::time::SystemTime;

use hoist::images::{list_images, short_id, ImageFilter, ImageSummary};
use hoist::reference::Reference;
use hoist::store::MetadataStore;
use serde::Serialize;
use serde_json::{json, Value};

use crate::cli::ImagesArgs;
use crate::failure::CliError;
use crate::format::{align, default_header, Format};
use crate::units::{human_duration, human_size};

/// One image row in `--json` output.
#[derive(Debug, Serialize)]
pub struct JsonRow {
    /// Familiar repository name, `null` for a dangling image.
    pub repository: Option<String>,
    /// Tag, `null` for a digest-only or dangling row.
    pub tag: Option<String>,
    /// The reference the row stands for, canonical (`docker.io/library/ubuntu:22.04`).
    pub reference: Option<String>,
    /// Image ID (config digest), full.
    pub id: String,
    /// Manifest digest.
    pub digest: String,
    /// Creation time, RFC 3339 UTC.
    pub created: Option<String>,
    /// Size in bytes (unpacked, as docker's).
    pub size: u64,
    /// The layer blobs' (compressed) size in bytes.
    pub compressed_size: u64,
    /// `os/architecture[/variant]`.
    pub platform: String,
}

/// Runs `hoist images`.
pub fn run(args: &ImagesArgs, meta: &MetadataStore) -> Result<(), CliError> {
    let format = Format::parse(args.format.as_deref())?;
    let filter = ImageFilter::parse(meta, &args.filter)
        .map_err(|e| CliError::Arguments(crate::failure::one_line(&e)))?;
    let mut rows = list_images(meta, None)?;
    if let Some(wanted) = &args.reference {
        let exact = Reference::parse(wanted).ok();
        let exact = exact.map(|r| list_images(meta, Some(&r))).transpose()?;
        let pattern = ImageFilter {
            references: vec![wanted.clone()],
            ..ImageFilter::default()
        };
        rows.retain(|row| {
            pattern.matches(row) || exact.as_ref().is_some_and(|exact| exact.contains(row))
        });
    }
    rows.retain(|row| filter.matches(row));
    let now = SystemTime::now();
    let text = if args.json {
        let rows: Vec<JsonRow> = rows.iter().map(json_row).collect();
        super::to_json_pretty(&rows)
    } else if args.quiet {
        rows.iter()
            .map(|row| id(row, args.no_trunc))
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        let values: Vec<Value> = rows
            .iter()
            .map(|row| template_row(row, args.no_trunc, now))
            .collect();
        format.render(&values, header, || table(&rows, now, args))?
    };
    if !text.is_empty() {
        crate::outln!("{text}");
    }
    Ok(())
}

fn id(row: &ImageSummary, no_trunc: bool) -> String {
    if no_trunc {
        row.image_id.to_string()
    } else {
        short_id(&row.image_id).to_owned()
    }
}

fn platform(row: &ImageSummary) -> String {
    let platform = &row.platform;
    let mut p = format!("{}/{}", platform.os, platform.architecture);
    if let Some(variant) = &platform.variant {
        p.push('/');
        p.push_str(variant);
    }
    p
}

fn json_row(row: &ImageSummary) -> JsonRow {
    JsonRow {
        repository: row.repository.as_ref().map(|r| r.familiar()),
        tag: row.tag.as_ref().map(|t| t.as_str().to_owned()),
        reference: row.reference.as_ref().map(ToString::to_string),
        id: row.image_id.to_string(),
        digest: row.manifest_digest.to_string(),
        created: row.created.map(hoist::images::created::format_rfc3339),
        size: row.size,
        compressed_size: row.compressed_size,
        platform: platform(row),
    }
}

fn created_since(row: &ImageSummary, now: SystemTime) -> String {
    match row.created {
        Some(t) => format!(
            "{} ago",
            human_duration(now.duration_since(t).unwrap_or_default())
        ),
        None => "N/A".to_owned(),
    }
}

/// The fields docker's image formatter offers, plus hoist's `CompressedSize` and `Platform`.
fn template_row(row: &ImageSummary, no_trunc: bool, now: SystemTime) -> Value {
    let none = || "<none>".to_owned();
    json!({
        "Repository": row.repository.as_ref().map_or_else(none, |r| r.familiar()),
        "Tag": row.tag.as_ref().map_or_else(none, |t| t.as_str().to_owned()),
        "Digest": row.manifest_digest.to_string(),
        "ID": id(row, no_trunc),
        "CreatedSince": created_since(row, now),
        "CreatedAt": row.created.map(hoist::images::created::format_rfc3339).unwrap_or_default(),
        "Size": human_size(row.size, 3),
        "CompressedSize": human_size(row.compressed_size, 3),
        "Platform": platform(row),
    })
}

/// Whether two rows are platforms of one multi-platform image (they share an index): the
/// table then gets a PLATFORM column to tell them apart.
fn has_siblings(rows: &[ImageSummary]) -> bool {
    rows.iter().enumerate().any(|(i, a)| {
        a.index_digest.is_some()
            && rows[i + 1..]
                .iter()
                .any(|b| b.index_digest == a.index_digest && b.image_id != a.image_id)
    })
}

fn header(field: &str) -> String {
    match field {
        "ID" => "IMAGE ID".to_owned(),
        "CreatedSince" | "CreatedAt" => "CREATED".to_owned(),
        other => default_header(other),
    }
}

/// The table docker prints, header included (no trailing newline).
pub fn table(rows: &[ImageSummary], now: SystemTime, args: &ImagesArgs) -> String {
    let none = || "<none>".to_owned();
    let platforms = has_siblings(rows);
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    if platforms {
        header.push("PLATFORM");
    }
    let mut lines = vec![header.join("\t")];
    for row in rows {
        let mut cells = vec![
            row.repository.as_ref().map_or_else(none, |r| r.familiar()),
            row.tag
                .as_ref()
                .map_or_else(none, |t| t.as_str().to_owned()),
        ];
        if args.digests {
            cells.push(row.manifest_digest.to_string());
        }
        cells.extend([
            id(row, args.no_trunc),
            created_since(row, now),
            human_size(row.size, 3),
        ]);
        if platforms {
            cells.push(platform(row));
        }
        lines.push(cells.join("\t"));
    }
    align(&lines)
}
