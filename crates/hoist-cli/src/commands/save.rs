//! `hoist save [-o FILE] REF…`: docker's `save`. The archive goes to FILE, or to stdout when no
//! `-o` is given and stdout is not a terminal ("cowardly refusing to save to a terminal"
//! otherwise, docker's words). With `-o`, it is written to a temporary file in FILE's
//! directory and renamed over FILE only when complete (docker's `CopyToFile`), so a failed save
//! never leaves a truncated FILE. Which images each REF designates: see
//! [`hoist::archive::save`].

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal as _, Write as _};
use std::path::Path;

use hoist::archive::save_images;
use hoist::store::{MetadataStore, WritebackFile};

use crate::cli::SaveArgs;
use crate::failure::CliError;

/// Runs `hoist save`.
pub fn run(args: &SaveArgs, meta: &MetadataStore) -> Result<(), CliError> {
    match &args.output {
        Some(path) => save_to_file(args, meta, path),
        None => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                return Err(CliError::Usage(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                        .to_owned(),
                ));
            }
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            save_images(meta, &args.references, &mut out)?;
            out.flush()
                .map_err(|e| CliError::Usage(format!("cannot write to stdout: {e}")))
        }
    }
}

fn save_to_file(args: &SaveArgs, meta: &MetadataStore, path: &Path) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let failed =
        |op: &str, e: io::Error| CliError::Usage(format!("cannot {op} {}: {e}", path.display()));
    let mut temp = tempfile::Builder::new()
        .prefix(".hoist_temp_")
        .tempfile_in(dir)
        .map_err(|e| failed("create a temporary file for", e))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, WritebackFile::new(temp.as_file_mut()));
        save_images(meta, &args.references, &mut out)?;
        out.flush().map_err(|e| failed("write", e))?;
    }
    temp.as_file().sync_all().map_err(|e| failed("write", e))?;
    temp.persist(path)
        .map(|_: File| ())
        .map_err(|e| failed("rename the temporary file to", e.error))
}
