//! `hoist images [--json] [REPOSITORY[:TAG]]`: docker's `images`.
//!
//! The table is docker's default format, `REPOSITORY  TAG  IMAGE ID  CREATED  SIZE`, laid out
//! as docker's `tabwriter` does (columns at least 10 wide, 3 spaces of padding): familiar
//! repository names, `<none>` for a missing repository or tag, the 12-character image ID,
//! "N days ago" (go-units' `HumanDuration`; `N/A` without a creation time), sizes as
//! `HumanSizeWithPrecision(size, 3)`. `--json` prints every field in full instead (see
//! [`JsonRow`]). Rows come from [`hoist::images::list_images`].

use std::time::SystemTime;

use hoist::images::{list_images, short_id, ImageSummary};
use hoist::reference::Reference;
use hoist::store::MetadataStore;
use serde::Serialize;

use crate::cli::ImagesArgs;
use crate::failure::CliError;
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
    /// Size in bytes.
    pub size: u64,
    /// `os/architecture[/variant]`.
    pub platform: String,
}

/// Runs `hoist images`.
pub fn run(args: &ImagesArgs, meta: &MetadataStore) -> Result<(), CliError> {
    let filter = args
        .reference
        .as_deref()
        .map(|s| {
            Reference::parse(s).map_err(|source| {
                CliError::Image(hoist::images::ImageError::InvalidReference {
                    input: s.to_owned(),
                    source,
                })
            })
        })
        .transpose()?;
    let rows = list_images(meta, filter.as_ref())?;
    if args.json {
        let rows: Vec<JsonRow> = rows.iter().map(json_row).collect();
        crate::outln!("{}", super::to_json_pretty(&rows));
    } else {
        crate::outln!("{}", table(&rows, SystemTime::now()).trim_end_matches('\n'));
    }
    Ok(())
}

fn json_row(row: &ImageSummary) -> JsonRow {
    let platform = &row.platform;
    let mut p = format!("{}/{}", platform.os, platform.architecture);
    if let Some(variant) = &platform.variant {
        p.push('/');
        p.push_str(variant);
    }
    JsonRow {
        repository: row.repository.as_ref().map(|r| r.familiar()),
        tag: row.tag.as_ref().map(|t| t.as_str().to_owned()),
        reference: row.reference.as_ref().map(ToString::to_string),
        id: row.image_id.to_string(),
        digest: row.manifest_digest.to_string(),
        created: row.created.map(hoist::images::created::format_rfc3339),
        size: row.size,
        platform: p,
    }
}

/// The table docker prints, header included.
pub fn table(rows: &[ImageSummary], now: SystemTime) -> String {
    let none = || "<none>".to_owned();
    let mut cells: Vec<[String; 5]> = vec![[
        "REPOSITORY".into(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
    ]];
    for row in rows {
        let created = match row.created {
            Some(t) => format!(
                "{} ago",
                human_duration(now.duration_since(t).unwrap_or_default())
            ),
            None => "N/A".to_owned(),
        };
        cells.push([
            row.repository.as_ref().map_or_else(none, |r| r.familiar()),
            row.tag
                .as_ref()
                .map_or_else(none, |t| t.as_str().to_owned()),
            short_id(&row.image_id).to_owned(),
            created,
            human_size(row.size, 3),
        ]);
    }
    tabwrite(&cells)
}

/// docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: every column but the last padded
/// to max(10, widest cell + 3).
fn tabwrite<const N: usize>(cells: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in cells {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count() + 3).max(10);
        }
    }
    let mut out = String::new();
    for row in cells {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < N {
                let pad = widths[i] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
    out
}
