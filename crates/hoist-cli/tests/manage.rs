//! `hoist images`, `inspect`, `tag`, `rmi` and `prune`, run as the built binary against store
//! roots prepared through the library with real (testkit-built) images, the way a pull leaves
//! them; skopeo checks that what remains is still a readable OCI layout.

mod sandbox;

use std::process::Output;

use hoist::digest::Digest;
use hoist::store::metadata::ImageRecord;
use hoist_testkit::{skopeo, Image, ImageBuilder, Layer};
use sandbox::SeededRoot;
use serde_json::Value;

type Store = SeededRoot;

use hoist_testkit::store::digest;

fn image(layers: &[&str]) -> Image {
    layers
        .iter()
        .fold(ImageBuilder::new(), |b, name| {
            b.layer(Layer::from_files(&[(name, name.as_bytes())]).unwrap())
        })
        .config_field("Cmd", serde_json::json!(["/bin/sh"]))
        .build()
        .unwrap()
}

fn short(record: &ImageRecord) -> String {
    record.image_id.hex()[..12].to_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn ok(output: Output) -> String {
    assert!(output.status.success(), "failed: {}", stderr(&output));
    stdout(&output)
}

/// The (repository, tag) of each table row, header skipped.
fn table_rows(out: &str) -> Vec<(String, String)> {
    out.lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split_whitespace();
            (
                cells.next().unwrap().to_owned(),
                cells.next().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn images_prints_docker_columns_with_familiar_names_short_ids_and_human_sizes() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1"]);
    store.put(&image(&["tool"]), &["localhost:5000/team/tool:2.0"]);

    let out = ok(store.hoist(&["images"]));

    let header = out.lines().next().unwrap();
    assert!(
        header.starts_with("REPOSITORY")
            && header.contains("   TAG")
            && header.contains("IMAGE ID")
            && header.contains("CREATED")
            && header.ends_with("SIZE"),
        "{header:?}"
    );
    let app_line = out.lines().find(|l| l.starts_with("app ")).unwrap();
    assert!(app_line.contains(&short(&app)), "{app_line}");
    assert!(app_line.contains(" years ago"), "{app_line}");
    assert!(app_line.ends_with("kB"), "{app_line}");
    let mut rows = table_rows(&out);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("app".to_owned(), "1".to_owned()),
            ("localhost:5000/team/tool".to_owned(), "2.0".to_owned()),
        ]
    );
}

#[test]
fn images_json_gives_full_fields() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1"]);

    let rows: Value = serde_json::from_str(&ok(store.hoist(&["images", "--json"]))).unwrap();

    let row = &rows[0];
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(row["repository"], "app");
    assert_eq!(row["tag"], "1");
    assert_eq!(row["reference"], "docker.io/library/app:1");
    assert_eq!(row["id"], app.image_id.to_string());
    assert_eq!(row["digest"], app.manifest_digest.to_string());
    assert_eq!(row["created"], "1970-01-01T00:00:00Z");
    assert_eq!(row["size"], app.size);
    assert_eq!(row["platform"], "linux/amd64");
}

#[test]
fn images_with_a_repository_argument_lists_only_that_repository() {
    let store = Store::new();
    store.put(&image(&["app"]), &["app:1", "app:2"]);
    store.put(&image(&["other"]), &["other:1"]);

    let rows = table_rows(&ok(store.hoist(&["images", "app"])));
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(repo, _)| repo == "app"));
    let rows = table_rows(&ok(store.hoist(&["images", "app:2"])));
    assert_eq!(rows, vec![("app".to_owned(), "2".to_owned())]);
}

#[test]
fn inspect_prints_docker_fields_config_and_manifest() {
    let store = Store::new();
    let built = image(&["app"]);
    let app = store.put(&built, &["app:1"]);

    let out = ok(store.hoist(&["inspect", "app:1"]));

    let all: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let inspect = &all[0];
    assert_eq!(inspect["Id"], app.image_id.to_string());
    assert_eq!(inspect["RepoTags"], serde_json::json!(["app:1"]));
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(inspect["Created"], "1970-01-01T00:00:00Z");
    assert_eq!(inspect["Size"], app.size);
    assert_eq!(inspect["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(
        inspect["RootFS"]["Layers"],
        serde_json::json!(built.diff_ids)
    );
    let manifest: Value = serde_json::from_slice(&built.manifest.bytes).unwrap();
    assert_eq!(inspect["Manifest"], manifest);
    assert!(
        out.contains("\n    {\n        \"Id\""),
        "docker's 4-space indent"
    );
}

#[test]
fn inspect_of_an_unknown_image_says_no_such_image_and_fails() {
    let store = Store::new();
    store.put(&image(&["app"]), &["app:1"]);

    let output = store.hoist(&["inspect", "nope"]);

    assert!(!output.status.success());
    assert_eq!(stdout(&output).trim(), "[]");
    assert_eq!(stderr(&output), "Error: No such image: nope\n");
}

#[test]
fn tag_then_images_shows_both_names_for_one_image_id() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1"]);

    assert_eq!(ok(store.hoist(&["tag", "app:1", "myreg:5000/app:v2"])), "");

    let out = ok(store.hoist(&["images"]));
    let mut rows = table_rows(&out);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("app".to_owned(), "1".to_owned()),
            ("myreg:5000/app".to_owned(), "v2".to_owned()),
        ]
    );
    assert_eq!(out.matches(&short(&app)).count(), 2);
}

#[test]
fn tag_to_a_digest_reference_is_refused() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1"]);
    let target = format!("app@{}", app.manifest_digest);

    let output = store.hoist(&["tag", "app:1", &target]);

    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "Error: refusing to create a tag with a digest reference\n"
    );
}

#[test]
fn rmi_of_one_of_two_tags_only_untags() {
    let store = Store::new();
    let built = image(&["app"]);
    store.put(&built, &["app:1", "app:2"]);

    assert_eq!(ok(store.hoist(&["rmi", "app:1"])), "Untagged: app:1\n");
    assert!(store.has(&built.manifest) && store.has(&built.layers[0]));
}

#[test]
fn rmi_of_the_last_tag_deletes_the_image_and_only_the_blobs_no_other_image_needs() {
    let store = Store::new();
    let gone = image(&["base", "gone"]);
    let kept = image(&["base", "kept"]);
    let gone_record = store.put(&gone, &["gone:1"]);
    store.put(&kept, &["kept:1"]);

    let out = ok(store.hoist(&["rmi", "gone:1"]));

    assert_eq!(
        out,
        format!("Untagged: gone:1\nDeleted: {}\n", gone_record.image_id)
    );
    assert!(!store.has(&gone.manifest) && !store.has(&gone.config));
    assert!(!store.has(&gone.layers[1]));
    assert!(
        store.has(&gone.layers[0]),
        "the shared base layer was deleted"
    );
    assert!(store.has(&kept.manifest) && store.has(&kept.layers[1]));
}

#[test]
fn rmi_by_id_of_an_image_in_several_repositories_needs_force() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1", "other:1"]);
    let id = short(&app);

    let refused = store.hoist(&["rmi", &id]);
    assert!(!refused.status.success());
    assert_eq!(
        stderr(&refused),
        format!("Error: conflict: unable to delete {id} (must be forced) - image is referenced in multiple repositories\n")
    );

    let out = ok(store.hoist(&["rmi", "-f", &id]));
    assert_eq!(
        out,
        format!(
            "Untagged: app:1\nUntagged: other:1\nDeleted: {}\n",
            app.image_id
        )
    );
}

#[test]
fn rmi_reports_each_failed_ref_goes_on_and_fails() {
    let store = Store::new();
    store.put(&image(&["app"]), &["app:1", "app:2"]);

    let output = store.hoist(&["rmi", "nope", "app:1"]);

    assert!(!output.status.success());
    assert_eq!(stderr(&output), "Error: No such image: nope\n");
    assert_eq!(stdout(&output), "Untagged: app:1\n");
}

#[test]
fn prune_deletes_dangling_images_and_orphans_and_skopeo_still_reads_the_rest() {
    let store = Store::new();
    let old = image(&["old"]);
    let new = image(&["new"]);
    let old_record = store.put(&old, &["app:1"]);
    store.put(&new, &["new:1"]);
    // The tag moves: the old image is left dangling.
    ok(store.hoist(&["tag", "new:1", "app:1"]));
    // A blob no image names (a pull killed between commit and record).
    let orphan = vec![7u8; 2000];
    let orphan_digest = Digest::sha256_of(&orphan);
    store
        .meta
        .content()
        .write_blob(&orphan_digest, &orphan)
        .unwrap();

    let out = ok(store.hoist(&["prune"]));

    let reclaimed = old.manifest.size + old.config.size + old.layers[0].size + 2000;
    assert_eq!(
        out,
        format!(
            "Deleted Images:\ndeleted: {}\n\nTotal reclaimed space: {}kB\n",
            old_record.image_id,
            format_kb(reclaimed)
        )
    );
    assert!(!store.has(&old.manifest) && !store.has(&old.layers[0]));
    assert!(!store.meta.content().has(&orphan_digest).unwrap());
    for name in ["docker.io/library/app:1", "docker.io/library/new:1"] {
        let raw = skopeo::inspect_raw(&format!("oci:{}:{name}", store.root().display()));
        assert_eq!(raw, new.manifest.bytes, "{name}");
    }
}

#[test]
fn prune_of_a_clean_store_reclaims_nothing() {
    let store = Store::new();
    store.put(&image(&["app"]), &["app:1"]);
    assert_eq!(ok(store.hoist(&["prune"])), "Total reclaimed space: 0B\n");
}

/// `bytes` in kB with 4 significant digits, for sizes between 1 kB and 10 kB.
fn format_kb(bytes: u64) -> String {
    assert!((1000..10_000).contains(&bytes), "{bytes}");
    let text = format!("{:.3}", bytes as f64 / 1000.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Records `image` as created at `created` (RFC 3339) and tags it `tag`.
fn put_created(store: &Store, image: &Image, tag: &str, created: &str) -> ImageRecord {
    let content = store.meta.content();
    for blob in image.layers.iter().chain([&image.config, &image.manifest]) {
        content.write_blob(&digest(blob), &blob.bytes).unwrap();
    }
    let mut record = hoist_testkit::store::record_of(image);
    record.created = Some(created.to_owned());
    store.meta.put_image(&record).unwrap();
    let reference = hoist::reference::Reference::parse(tag).unwrap();
    store
        .meta
        .add_tag(&reference, &record.manifest_digest, false)
        .unwrap();
    record
}

#[test]
fn images_quiet_no_trunc_and_digests() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1"]);

    assert_eq!(
        ok(store.hoist(&["images", "-q"])),
        format!("{}\n", short(&app))
    );
    assert_eq!(
        ok(store.hoist(&["images", "-q", "--no-trunc"])),
        format!("{}\n", app.image_id)
    );
    let out = ok(store.hoist(&["images", "--digests"]));
    let header = out.lines().next().unwrap();
    assert!(header.contains("   DIGEST   "), "{header}");
    assert!(out.contains(&app.manifest_digest.to_string()), "{out}");
}

#[test]
fn images_filters_by_reference_pattern_dangling_before_and_since() {
    let store = Store::new();
    put_created(
        &store,
        &image(&["old"]),
        "team/old:1",
        "2020-01-01T00:00:00Z",
    );
    put_created(
        &store,
        &image(&["mid"]),
        "team/mid:1",
        "2022-01-01T00:00:00Z",
    );
    put_created(&store, &image(&["new"]), "other:2", "2024-01-01T00:00:00Z");
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        all.extend(args);
        let mut names: Vec<String> = ok(store.hoist(&all)).lines().map(str::to_owned).collect();
        names.sort();
        names
    };

    assert_eq!(names(&["team/*"]), ["team/mid:1", "team/old:1"]);
    assert_eq!(names(&["--filter", "reference=*:2"]), ["other:2"]);
    assert_eq!(names(&["--filter", "before=team/mid:1"]), ["team/old:1"]);
    assert_eq!(names(&["--filter", "since=team/mid:1"]), ["other:2"]);
    assert_eq!(
        names(&[
            "--filter",
            "dangling=false",
            "--filter",
            "reference=team/o*"
        ]),
        ["team/old:1"]
    );
    assert!(names(&["--filter", "dangling=true"]).is_empty());
    let bad = store.hoist(&["images", "--filter", "colour=red"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
}

#[test]
fn images_and_inspect_take_go_templates() {
    let store = Store::new();
    let app = store.put(&image(&["app"]), &["app:1"]);

    let table = ok(store.hoist(&["images", "--format", "table {{.Repository}}\\t{{.ID}}"]));
    assert_eq!(
        table,
        format!("REPOSITORY   IMAGE ID\napp          {}\n", short(&app))
    );
    let json_rows = ok(store.hoist(&["images", "--format", "{{json .}}"]));
    let row: Value = serde_json::from_str(json_rows.trim()).unwrap();
    assert_eq!(row["Platform"], "linux/amd64");
    assert_eq!(
        ok(store.hoist(&[
            "inspect",
            "--format",
            "{{.Id}} {{json .Config.Cmd}}",
            "app:1"
        ])),
        format!("{} [\"/bin/sh\"]\n", app.image_id)
    );
}
