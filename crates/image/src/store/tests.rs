use super::*;

fn image(id_char: char) -> NewImage {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    NewImage {
        id: format!("sha256:{}", id_char.to_string().repeat(64)),
        manifest_digest: format!("sha256:{}", "f".repeat(64)),
        manifest_media_type: crate::media::OCI_MANIFEST.into(),
        config_json: serde_json::to_vec(&config).unwrap(),
        layers: vec![],
        size: 42,
    }
}

fn open() -> (tempfile::TempDir, MetadataStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = MetadataStore::open(&dir.path().join("images.db")).unwrap();
    (dir, store)
}

#[test]
fn migrations_are_recorded_and_reopen_is_idempotent() {
    let (dir, store) = open();
    drop(store);
    let conn = Connection::open(dir.path().join("images.db")).unwrap();
    let version: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::MIGRATIONS.len());
    drop(conn);
    MetadataStore::open(&dir.path().join("images.db")).unwrap();
}

#[test]
fn tags_move_between_images_and_refs_are_familiar() {
    let (_dir, store) = open();
    let tag = Reference::parse("busybox").unwrap();
    let pinned = Reference::parse(&format!("busybox@sha256:{}", "e".repeat(64))).unwrap();
    store
        .commit(
            &image('a'),
            &[(tag.clone(), RefKind::Tag), (pinned, RefKind::Digest)],
        )
        .unwrap();
    let a = store.get(&image('a').id).unwrap().unwrap();
    assert_eq!(a.repo_tags, vec!["busybox:latest"]);
    assert_eq!(a.repo_digests.len(), 1);
    assert!(a.last_tag_time.is_some());

    store
        .commit(&image('b'), &[(tag.clone(), RefKind::Tag)])
        .unwrap();
    let a = store.get(&image('a').id).unwrap().unwrap();
    assert!(a.repo_tags.is_empty(), "tag moved to b");
    assert_eq!(
        store
            .resolve_ref("docker.io/library/busybox:latest")
            .unwrap(),
        Some(image('b').id)
    );
    assert_eq!(store.list().unwrap().len(), 2);
}

#[test]
fn prefix_lookup_and_cascade_delete() {
    let (_dir, store) = open();
    store
        .commit(
            &image('a'),
            &[(Reference::parse("x:1").unwrap(), RefKind::Tag)],
        )
        .unwrap();
    assert_eq!(store.ids_with_prefix("aaaa").unwrap(), vec![image('a').id]);
    assert!(store.ids_with_prefix("ab").unwrap().is_empty());
    store.remove_image(&image('a').id).unwrap();
    assert_eq!(store.resolve_ref("docker.io/library/x:1").unwrap(), None);
    assert!(store.get(&image('a').id).unwrap().is_none());
}
