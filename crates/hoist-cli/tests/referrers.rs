//! `hoist attach`, `hoist discover` and the referrers `hoist copy` carries, end to end: the
//! built binary against real `docker-registry` processes (no referrers API: the fallback tag
//! is what is read and written), checked with the testkit's own reader and writer.

mod sandbox;

use sandbox::{push_index, registry_with_image, stderr, stdout, Sandbox};

use hoist_testkit::{Artifact, FaultProxy, ImagePusher, Rule, TestRegistry};
use serde_json::Value;

const SBOM: &str = "application/vnd.example.sbom.v1";
const SIG: &str = "application/vnd.example.signature.v1";

#[tokio::test]
async fn attach_adds_a_referrer_that_discover_and_an_independent_reader_see() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = push_index(&registry, "team/app", &["amd64", "arm64"]).await;
    let sandbox = Sandbox::new();
    let file = sandbox.dir.path().join("sbom.json");
    std::fs::write(&file, b"{\"packages\":[]}").unwrap();
    let subject = format!("{}/team/app:v1", registry.host());

    let out = sandbox
        .hoist(&[
            "attach",
            "--artifact-type",
            SBOM,
            "--subject",
            &subject,
            "-a",
            "purpose=test",
            file.to_str().unwrap(),
        ])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let attached = format!(
        "Attached to {}/team/app@{}",
        registry.host(),
        index.digest()
    );
    assert!(text.contains(&attached), "{text}");
    let digest = text
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap()
        .to_owned();
    let listed = ImagePusher::new(&registry)
        .referrers_index("team/app", index.digest())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["digest"], digest.as_str());
    assert_eq!(listed[0]["artifactType"], SBOM);
    assert_eq!(listed[0]["annotations"]["purpose"], "test");

    let out = sandbox.hoist(&["discover", &subject]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let tree = stdout(&out);
    assert!(
        tree.starts_with(&format!(
            "{}/team/app@{}\n└── {SBOM}\n    └── {digest}",
            registry.host(),
            index.digest()
        )),
        "{tree}"
    );

    let out = sandbox
        .hoist(&["discover", "--format", "json", &subject])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["digest"], index.digest());
    assert_eq!(json["referrers"][0]["digest"], digest.as_str());
    assert_eq!(json["referrers"][0]["artifactType"], SBOM);
}

#[tokio::test]
async fn discover_lists_referrers_of_referrers_written_by_another_client() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = push_index(&registry, "team/app", &["amd64"]).await;
    let pusher = ImagePusher::new(&registry);
    let sbom = Artifact::new(SBOM, &index.index, &[("sbom.json", b"{}")]);
    let sig = Artifact::new(SIG, &sbom.manifest, &[("sig", b"s")]);
    for artifact in [&sbom, &sig] {
        pusher.push_referrer("team/app", artifact).await.unwrap();
    }
    let sandbox = Sandbox::new();
    let subject = format!("docker://{}/team/app:v1", registry.host());

    let out = sandbox.hoist(&["discover", &subject]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = format!(
        "{}/team/app@{}\n└── {SBOM}\n    └── {}\n        └── {SIG}\n            └── {}\n",
        registry.host(),
        index.digest(),
        sbom.manifest.digest,
        sig.manifest.digest
    );
    assert_eq!(stdout(&out), expected);

    let out = sandbox
        .hoist(&["discover", "--artifact-type", SIG, &subject])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("{}/team/app@{}\n", registry.host(), index.digest()),
        "the filter applies to the first level too"
    );
}

#[tokio::test]
async fn discover_keeps_each_list_under_its_referrer_when_the_lists_arrive_out_of_order() {
    let registry = TestRegistry::anonymous().await.unwrap();
    let index = push_index(&registry, "team/app", &["amd64"]).await;
    let pusher = ImagePusher::new(&registry);
    let sbom = Artifact::new(SBOM, &index.index, &[("sbom.json", b"{}")]);
    let other = Artifact::new(SBOM, &index.index, &[("other.json", b"{}")]);
    let on_sbom = Artifact::new(SIG, &sbom.manifest, &[("sig", b"s")]);
    let on_other = Artifact::new(SIG, &other.manifest, &[("sig", b"o")]);
    for artifact in [&sbom, &other, &on_sbom, &on_other] {
        pusher.push_referrer("team/app", artifact).await.unwrap();
    }
    // The second level's lists are read at once: the first one's answer comes last.
    let proxy = FaultProxy::start(&registry).await.unwrap();
    let slow = sbom.manifest.digest.replace(':', "-");
    proxy.rule(
        Rule::matching(&format!("GET /v2/team/app/manifests/{slow}"))
            .delay(std::time::Duration::from_millis(300)),
    );
    let sandbox = Sandbox::new();
    let subject = format!("docker://{}/team/app:v1", proxy.host());

    let out = sandbox
        .hoist(&["discover", "--format", "json", &subject])
        .await;

    assert!(out.status.success(), "{}", stderr(&out));
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first_level = json["referrers"].as_array().unwrap();
    assert_eq!(first_level.len(), 2, "{json}");
    for referrer in first_level {
        let expected = match referrer["digest"].as_str() {
            Some(d) if d == sbom.manifest.digest => &on_sbom.manifest.digest,
            _ => &on_other.manifest.digest,
        };
        assert_eq!(
            referrer["referrers"][0]["digest"],
            expected.as_str(),
            "{json}"
        );
    }
}

#[tokio::test]
async fn copy_through_the_store_keeps_referrers_and_no_referrers_drops_them() {
    let (a, b) = (
        TestRegistry::anonymous().await.unwrap(),
        TestRegistry::anonymous().await.unwrap(),
    );
    let index = push_index(&a, "team/app", &["amd64", "arm64"]).await;
    let sbom = Artifact::new(SBOM, &index.index, &[("sbom.tar", b"not a tar at all")]);
    let sig = Artifact::new(SIG, &index.images[1].manifest, &[("sig", b"s")]);
    let pusher = ImagePusher::new(&a);
    for artifact in [&sbom, &sig] {
        pusher.push_referrer("team/app", artifact).await.unwrap();
    }
    let sandbox = Sandbox::new();

    let out = sandbox
        .hoist(&["copy", &format!("{}/team/app:v1", a.host()), "hoist:app:v1"])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sandbox.hoist(&["discover", "hoist:app:v1"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&sbom.manifest.digest),
        "{}",
        stdout(&out)
    );

    let out = sandbox
        .hoist(&["copy", "hoist:app:v1", &format!("{}/back/app:v1", b.host())])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let back = ImagePusher::new(&b);
    for artifact in [&sbom, &sig] {
        let listed = back
            .referrers_index("back/app", &artifact.subject)
            .await
            .unwrap();
        assert!(
            listed.contains(&artifact.referrer_descriptor()),
            "{listed:?}"
        );
    }

    let out = sandbox
        .hoist(&[
            "copy",
            "--no-referrers",
            &format!("{}/team/app:v1", a.host()),
            &format!("{}/bare/app:v1", b.host()),
        ])
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = back
        .referrers_index("bare/app", index.digest())
        .await
        .unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

#[tokio::test]
async fn rmi_takes_the_referrers_stored_with_the_image() {
    let (registry, image) = registry_with_image().await;
    let sbom = Artifact::new(SBOM, &image.manifest, &[("sbom.json", b"{}")]);
    let sig = Artifact::new(SIG, &sbom.manifest, &[("sig", b"s")]);
    let pusher = ImagePusher::new(&registry);
    for artifact in [&sbom, &sig] {
        pusher.push_referrer("team/app", artifact).await.unwrap();
    }
    let sandbox = Sandbox::new();
    let src = format!("{}/team/app:v1", registry.host());
    let out = sandbox.hoist(&["copy", &src, "hoist:app:v1"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sandbox.hoist(&["discover", "hoist:app:v1"]).await;
    assert!(
        stdout(&out).contains(&sig.manifest.digest),
        "{}",
        stdout(&out)
    );

    let out = sandbox.hoist(&["rmi", "app:v1"]).await;
    assert!(out.status.success(), "{}", stderr(&out));

    let blobs = std::fs::read_dir(sandbox.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect::<Vec<_>>();
    assert!(blobs.is_empty(), "left behind: {blobs:?}");
    let index = std::fs::read_to_string(sandbox.root().join("index.json")).unwrap();
    let index: Value = serde_json::from_str(&index).unwrap();
    assert_eq!(index["manifests"], serde_json::json!([]), "{index}");
}
