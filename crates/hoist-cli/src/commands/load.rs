//! `hoist load [-i FILE] [-q]`: docker's `load`. Reads FILE, or stdin when no `-i` is given and
//! stdin is not a terminal ("requested load from stdin, but stdin is empty" otherwise,
//! docker's words), and prints docker's lines: `Loaded image: REF` per tag, `Loaded image ID:
//! sha256:…` for an untagged image, and the "already exists, renaming the old one" notice when
//! a tag moves. See [`hoist::archive::load`] for what is checked.

use std::fs::File;
use std::io::{self, BufReader, IsTerminal as _};

use hoist::copy::load_archive;
use hoist::store::MetadataStore;

use crate::cli::LoadArgs;
use crate::failure::CliError;

/// Runs `hoist load`.
pub fn run(args: &LoadArgs, meta: &MetadataStore) -> Result<(), CliError> {
    let report = match &args.input {
        Some(path) => {
            let file = File::open(path)
                .map_err(|e| CliError::Usage(format!("cannot open {}: {e}", path.display())))?;
            load_archive(meta, BufReader::with_capacity(1 << 20, file))?
        }
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                return Err(CliError::Usage(
                    "requested load from stdin, but stdin is empty".to_owned(),
                ));
            }
            load_archive(meta, stdin.lock())?
        }
    };
    for event in &report.events {
        crate::outln!("{event}");
    }
    Ok(())
}
