//! The schema of `hoist.db`, its migrations, the per-connection settings, and how hoist's types
//! are stored in columns.
//!
//! # Migrations
//! [`MIGRATIONS`] is append-only: entry `i` takes the database from `user_version` `i` to
//! `i + 1`. [`migrate`] runs the missing steps in one `BEGIN IMMEDIATE` transaction, reading
//! `user_version` inside it, so two processes opening a fresh root at once apply each step once
//! (the second waits for the first, then finds nothing to do). A database whose `user_version`
//! is higher than hoist knows is refused ([`MetadataError::NewerSchema`]) rather than written by
//! code that does not understand it. A later issue adds a table by appending a step.
//!
//! # Connection settings
//! - `journal_mode=WAL`: readers never block the writer nor the writer readers, so several hoist
//!   processes share one root; the mode is stored in the file, so setting it is a no-op after
//!   the first open. On a file system without shared memory SQLite stays in its rollback
//!   journal; that still works (only with less concurrency) and is logged.
//! - `synchronous=NORMAL`: in WAL mode a process killed at any instant loses nothing committed;
//!   a power cut may lose the last transactions but never corrupts the file. Blobs whose record
//!   was lost that way are unreferenced and go at the next gc.
//! - `busy_timeout`: how long a writer waits for another process's write transaction before
//!   [`MetadataError::Busy`].
//! - `foreign_keys=ON`: references point at recorded images, image layers at their image,
//!   layer records at their parent.
//!
//! # Column encodings
//! Digests, references and repositories are stored as their canonical strings
//! (`sha256:…`, `docker.io/library/ubuntu:22.04`) and parsed back on read; a value that does not
//! parse is reported as a corrupt database. Sizes are `INTEGER` (a `u64` above `i64::MAX` is
//! refused by rusqlite on write). Times are Unix seconds.

use std::thread;
use std::time::{Duration, Instant};

use rusqlite::ffi::ErrorCode;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};

use super::MetadataError;
use crate::digest::Digest;
use crate::reference::{Reference, Repository};

/// The schema steps, in order; see the module docs. Never edit a step that has shipped: append.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: references, images, blob sources (v2 metadata), layer records, pending index.json
    // changes.
    r#"
    CREATE TABLE images (
        manifest_digest     TEXT PRIMARY KEY NOT NULL,
        manifest_media_type TEXT NOT NULL,
        manifest_size       INTEGER NOT NULL,
        image_id            TEXT NOT NULL,
        index_digest        TEXT,
        os                  TEXT NOT NULL,
        architecture        TEXT NOT NULL,
        variant             TEXT,
        size                INTEGER NOT NULL,
        created             TEXT,
        added_at            INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX images_by_id ON images(image_id);

    CREATE TABLE image_layers (
        manifest_digest TEXT NOT NULL REFERENCES images(manifest_digest) ON DELETE CASCADE,
        position        INTEGER NOT NULL,
        diff_id         TEXT NOT NULL,
        blob_digest     TEXT NOT NULL,
        blob_size       INTEGER NOT NULL,
        media_type      TEXT NOT NULL,
        PRIMARY KEY (manifest_digest, position)
    ) STRICT;
    CREATE INDEX image_layers_by_blob ON image_layers(blob_digest);

    CREATE TABLE refs (
        name            TEXT PRIMARY KEY NOT NULL,
        repository      TEXT NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('tag', 'digest')),
        manifest_digest TEXT NOT NULL REFERENCES images(manifest_digest) ON DELETE RESTRICT
    ) STRICT;
    CREATE INDEX refs_by_repository ON refs(repository);
    CREATE INDEX refs_by_manifest ON refs(manifest_digest);

    CREATE TABLE blob_sources (
        id         INTEGER PRIMARY KEY,
        diff_id    TEXT NOT NULL,
        digest     TEXT NOT NULL,
        registry   TEXT NOT NULL,
        repository TEXT NOT NULL,
        hmac       TEXT NOT NULL DEFAULT '',
        last_seen  INTEGER NOT NULL,
        UNIQUE (diff_id, digest, repository, hmac)
    ) STRICT;
    CREATE INDEX blob_sources_by_digest ON blob_sources(digest);

    CREATE TABLE layers (
        chain_id  TEXT PRIMARY KEY NOT NULL,
        diff_id   TEXT NOT NULL,
        parent    TEXT REFERENCES layers(chain_id) ON DELETE RESTRICT,
        size      INTEGER NOT NULL,
        ref_count INTEGER NOT NULL DEFAULT 0 CHECK (ref_count >= 0)
    ) STRICT;
    CREATE INDEX layers_by_parent ON layers(parent);

    CREATE TABLE index_pending (
        name TEXT PRIMARY KEY NOT NULL
    ) STRICT;
    "#,
    // 2: which image holds which unpacked layer. An image holds every layer of its chain; the
    // triggers keep `layers.ref_count` equal to the number of holds, including when deleting
    // an image record cascades to its holds, so no caller can forget a release.
    r#"
    CREATE TABLE layer_holds (
        manifest_digest TEXT NOT NULL REFERENCES images(manifest_digest) ON DELETE CASCADE,
        chain_id        TEXT NOT NULL REFERENCES layers(chain_id) ON DELETE RESTRICT,
        PRIMARY KEY (manifest_digest, chain_id)
    ) STRICT;
    CREATE INDEX layer_holds_by_chain ON layer_holds(chain_id);
    CREATE TRIGGER layer_holds_acquire AFTER INSERT ON layer_holds BEGIN
        UPDATE layers SET ref_count = ref_count + 1 WHERE chain_id = NEW.chain_id;
    END;
    CREATE TRIGGER layer_holds_release AFTER DELETE ON layer_holds BEGIN
        UPDATE layers SET ref_count = ref_count - 1 WHERE chain_id = OLD.chain_id;
    END;
    "#,
    // 3: the index a reference's image came with when the reference was recorded. An image
    // record is shared by every name of its manifest and its index_digest follows the last
    // recording, so push asks the reference, not the image, whether to send an index whole
    // (issue 11, bug 1). Existing references take their image's current index.
    r#"
    ALTER TABLE refs ADD COLUMN index_digest TEXT;
    UPDATE refs SET index_digest =
        (SELECT i.index_digest FROM images i WHERE i.manifest_digest = refs.manifest_digest);
    "#,
];

/// The schema version this hoist writes.
pub(crate) fn current_version() -> i64 {
    // A handful of steps; the cast cannot truncate.
    MIGRATIONS.len() as i64
}

/// Applies the per-connection settings (see the module docs).
pub(crate) fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let mode = set_wal_mode(conn, busy_timeout)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            journal_mode = %mode,
            "hoist.db is not in WAL mode (the file system may lack shared memory); concurrent hoist processes will wait for each other more"
        );
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

/// Switches to WAL mode. While another connection is switching a fresh file, SQLite answers
/// `SQLITE_BUSY` at once without consulting the busy handler, so the switch is retried here
/// until the busy timeout runs out (found by `several_openers_of_a_fresh_root_at_once_all_succeed`).
fn set_wal_mode(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(5));
            }
            result => return result,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Brings the schema up to [`current_version`]; see the module docs.
pub(crate) fn migrate(
    conn: &mut Connection,
    error: impl Fn(&'static str, rusqlite::Error) -> MetadataError,
    newer: impl FnOnce(i64) -> MetadataError,
) -> Result<(), MetadataError> {
    // Read first without a write lock: the common case (up to date) never queues behind a pull.
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| error("read the schema version", e))?;
    if found == current_version() {
        return Ok(());
    }
    if found > current_version() {
        return Err(newer(found));
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| error("begin the schema migration", e))?;
    let found: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| error("read the schema version", e))?;
    if found > current_version() {
        return Err(newer(found));
    }
    let start = usize::try_from(found).unwrap_or(0);
    for step in MIGRATIONS.iter().skip(start) {
        tx.execute_batch(step)
            .map_err(|e| error("migrate the schema", e))?;
    }
    tx.pragma_update(None, "user_version", current_version())
        .map_err(|e| error("record the schema version", e))?;
    tx.commit()
        .map_err(|e| error("commit the schema migration", e))
}

fn parse_text<T, E: std::error::Error + Send + Sync + 'static>(
    value: ValueRef<'_>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> FromSqlResult<T> {
    let text = value.as_str()?;
    parse(text).map_err(|e| FromSqlError::Other(Box::new(e)))
}

impl ToSql for Digest {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for Digest {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Digest> {
        parse_text(value, Digest::parse)
    }
}

impl FromSql for Reference {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Reference> {
        parse_text(value, Reference::parse)
    }
}

impl FromSql for Repository {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Repository> {
        parse_text(value, Repository::parse)
    }
}
