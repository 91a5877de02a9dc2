use super::*;
use silo_errdefs::{ErrorKind, HasKind};

fn store() -> (tempfile::TempDir, ContentStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = ContentStore::open(tmp.path().join("content")).unwrap();
    (tmp, store)
}

fn ingest_files(store: &ContentStore) -> usize {
    fs::read_dir(store.root().join("ingest")).unwrap().count()
}

#[test]
fn put_read_size_list_delete() {
    let (_tmp, store) = store();
    let d = store.put(b"hello").unwrap();
    assert_eq!(d, Digest::of(b"hello"));
    assert!(store.contains(&d));
    assert_eq!(store.read(&d).unwrap(), b"hello");
    assert_eq!(store.size(&d).unwrap(), 5);
    assert_eq!(
        store.blob_path(&d),
        store.root().join("blobs/sha256").join(d.hex())
    );
    // Idempotent.
    assert_eq!(store.put(b"hello").unwrap(), d);
    let d2 = store.put(b"world!").unwrap();
    let mut want = vec![(d.clone(), 5), (d2.clone(), 6)];
    want.sort();
    assert_eq!(store.list().unwrap(), want);

    store.delete(&d).unwrap();
    assert!(!store.contains(&d));
    let err = store.delete(&d).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains(d.as_str()), "{err}");
    assert_eq!(store.list().unwrap(), vec![(d2, 6)]);
}

#[test]
fn missing_blob_is_not_found_everywhere() {
    let (_tmp, store) = store();
    let d = Digest::of(b"absent");
    assert!(!store.contains(&d));
    for err in [
        store.read(&d).unwrap_err(),
        store.size(&d).unwrap_err(),
        store.open_blob(&d).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(matches!(err, StorageError::BlobNotFound { .. }));
    }
}

#[test]
fn put_verified_rejects_wrong_digest_and_stores_nothing() {
    let (_tmp, store) = store();
    let wrong = Digest::of(b"other");
    let err = store.put_verified(b"data", &wrong).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(
        msg.contains(wrong.as_str()) && msg.contains(Digest::of(b"data").as_str()),
        "{msg}"
    );
    assert!(!store.contains(&Digest::of(b"data")));
    assert!(!store.contains(&wrong));
    assert_eq!(ingest_files(&store), 0);
    store.put_verified(b"data", &Digest::of(b"data")).unwrap();
    assert!(store.contains(&Digest::of(b"data")));
}

#[test]
fn streaming_ingest_verifies_size() {
    let (_tmp, store) = store();
    let mut ing = store.ingest(Some(Digest::of(b"abcdef")), Some(6)).unwrap();
    ing.write_all(b"abc").unwrap();
    assert_eq!(ing.written(), 3);
    assert_eq!(ingest_files(&store), 1);
    let err = ing.commit().unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::SizeMismatch {
                expected: 6,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        ingest_files(&store),
        0,
        "temp not removed after failed commit"
    );

    let mut ing = store.ingest(None, None).unwrap();
    ing.write_all(b"abc").unwrap();
    ing.write_all(b"def").unwrap();
    let d = ing.commit().unwrap();
    assert_eq!(d, Digest::of(b"abcdef"));
    assert_eq!(store.read(&d).unwrap(), b"abcdef");
    assert_eq!(ingest_files(&store), 0);
}

#[test]
fn commit_of_existing_blob_keeps_it_and_drops_temp() {
    let (_tmp, store) = store();
    let d = store.put(b"same").unwrap();
    let mut ing = store.ingest(Some(d.clone()), None).unwrap();
    ing.write_all(b"same").unwrap();
    assert_eq!(ing.commit().unwrap(), d);
    assert_eq!(store.read(&d).unwrap(), b"same");
    assert_eq!(ingest_files(&store), 0);
}

#[test]
fn dropped_ingest_leaves_nothing() {
    let (_tmp, store) = store();
    {
        let mut ing = store.ingest(None, None).unwrap();
        ing.write_all(b"partial").unwrap();
        assert_eq!(ingest_files(&store), 1);
    }
    assert_eq!(ingest_files(&store), 0);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn open_discards_crash_leftovers() {
    let (_tmp, store) = store();
    let d = store.put(b"committed").unwrap();
    // Simulate kill -9 mid-ingest: the Ingest never gets to run Drop.
    let mut ing = store.ingest(None, None).unwrap();
    ing.write_all(b"half a layer").unwrap();
    std::mem::forget(ing);
    fs::create_dir(store.root().join("ingest/stray-dir")).unwrap();
    assert_eq!(ingest_files(&store), 2);

    let reopened = ContentStore::open(store.root()).unwrap();
    assert_eq!(ingest_files(&reopened), 0);
    assert_eq!(reopened.list().unwrap(), vec![(d, 9)]);
}

#[test]
fn list_skips_stray_files() {
    let (_tmp, store) = store();
    fs::write(store.root().join("blobs/sha256/not-a-digest"), b"x").unwrap();
    let d = store.put(b"x").unwrap();
    assert_eq!(store.list().unwrap(), vec![(d, 1)]);
}

#[test]
fn store_is_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<ContentStore>();
}
