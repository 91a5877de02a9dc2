use super::*;
use silo_errdefs::{ErrorKind, HasKind};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn store() -> (tempfile::TempDir, LayerStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = LayerStore::open(tmp.path().join("layers")).unwrap();
    (tmp, store)
}

fn tmp_entries(store: &LayerStore) -> usize {
    fs::read_dir(store.root().join("tmp")).unwrap().count()
}

fn no_progress() -> impl FnMut(u64) {
    |_| {}
}

#[test]
fn unpack_reader_computes_diff_id_over_whole_stream() {
    let (_tmp, store) = store();
    let mut tar = layer_tar(&[("etc/hostname", b"silo\n")]);
    // Extra zero padding after end-of-archive (as some tools write) is part of the diff_id.
    tar.extend([0u8; 4096]);
    let want = Digest::of(&tar);
    let layer = store
        .unpack_reader(&tar[..], None, &mut no_progress())
        .unwrap();
    assert_eq!(layer.diff_id, want);
    assert_eq!(layer.size, tar.len() as u64);
    assert_eq!(layer.path, store.fs_path(&want));
    assert_eq!(
        fs::read(layer.path.join("etc/hostname")).unwrap(),
        b"silo\n"
    );
    assert!(store.contains(&want));
    assert_eq!(store.size(&want).unwrap(), tar.len() as u64);
    // Docker's image size counts file content, not tar headers and padding.
    assert_eq!(layer.content_size, 5);
    assert_eq!(store.content_size(&want).unwrap(), 5);
    assert_eq!(store.list().unwrap(), vec![want]);
    assert_eq!(tmp_entries(&store), 0);
}

#[test]
fn compressed_blobs_are_detected() {
    let (tmp, store) = store();
    let tar = layer_tar(&[("a", b"gz")]);
    let diff_id = Digest::of(&tar);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz_path = tmp.path().join("blob.gz");
    fs::write(&gz_path, gz.finish().unwrap()).unwrap();
    let layer = store
        .unpack(&gz_path, Some(&diff_id), &mut no_progress())
        .unwrap();
    assert_eq!(layer.diff_id, diff_id);
    assert_eq!(fs::read(layer.path.join("a")).unwrap(), b"gz");

    let tar = layer_tar(&[("b", b"zst")]);
    let zst_path = tmp.path().join("blob.zst");
    fs::write(&zst_path, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
    let layer = store.unpack(&zst_path, None, &mut no_progress()).unwrap();
    assert_eq!(layer.diff_id, Digest::of(&tar));
    assert_eq!(fs::read(layer.path.join("b")).unwrap(), b"zst");

    let tar = layer_tar(&[("c", b"plain")]);
    let plain = tmp.path().join("blob.tar");
    fs::write(&plain, &tar).unwrap();
    let layer = store.unpack(&plain, None, &mut no_progress()).unwrap();
    assert_eq!(layer.diff_id, Digest::of(&tar));
}

#[test]
fn existing_layer_is_not_read_again() {
    let (tmp, store) = store();
    let tar = layer_tar(&[("x", b"1")]);
    let diff_id = Digest::of(&tar);
    store
        .unpack_reader(&tar[..], Some(&diff_id), &mut no_progress())
        .unwrap();
    // A path that does not exist proves the blob is never opened.
    let missing = tmp.path().join("does-not-exist");
    let layer = store
        .unpack(&missing, Some(&diff_id), &mut no_progress())
        .unwrap();
    assert_eq!(layer.size, tar.len() as u64);
    // Without an expected diff_id the blob must be read.
    assert!(store.unpack(&missing, None, &mut no_progress()).is_err());
}

#[test]
fn diff_id_mismatch_keeps_nothing() {
    let (_tmp, store) = store();
    let tar = layer_tar(&[("x", b"1")]);
    let wrong = Digest::of(b"something else");
    let err = store
        .unpack_reader(&tar[..], Some(&wrong), &mut no_progress())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let msg = err.to_string();
    assert!(
        msg.contains(wrong.as_str()) && msg.contains(Digest::of(&tar).as_str()),
        "{msg}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(!store.contains(&Digest::of(&tar)));
    assert_eq!(tmp_entries(&store), 0);
}

#[test]
fn hostile_layer_keeps_nothing() {
    let (tmp, store) = store();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..9].copy_from_slice(b"../escape");
    h.set_size(1);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let err = store
        .unpack_reader(&tar[..], None, &mut no_progress())
        .unwrap_err();
    assert!(err.to_string().contains("../escape"), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(tmp_entries(&store), 0);
    assert!(!tmp.path().join("layers/tmp/escape").exists());
}

#[test]
fn progress_is_throttled_and_ends_with_total() {
    let (_tmp, store) = store();
    let big = vec![5u8; 3 * 1024 * 1024];
    let tar = layer_tar(&[("big", &big)]);
    let mut calls = Vec::new();
    let layer = store
        .unpack_reader(&tar[..], None, &mut |n| calls.push(n))
        .unwrap();
    assert_eq!(*calls.last().unwrap(), layer.size);
    assert!(
        calls.windows(2).all(|w| w[0] <= w[1]),
        "not monotonic: {calls:?}"
    );
    // ~3 MiB at one report per 256 KiB: about a dozen reports, certainly not hundreds.
    assert!(
        (8..=20).contains(&calls.len()),
        "{} progress calls",
        calls.len()
    );
}

#[test]
fn concurrent_unpacks_of_same_layer_both_succeed() {
    let (_tmp, store) = store();
    let tar = layer_tar(&[("shared", &vec![1u8; 512 * 1024])]);
    let diff_id = Digest::of(&tar);
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                let tar = &tar;
                s.spawn(move || store.unpack_reader(&tar[..], None, &mut no_progress()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r.unwrap().diff_id, diff_id);
    }
    assert_eq!(store.list().unwrap(), vec![diff_id.clone()]);
    assert_eq!(
        fs::read(store.fs_path(&diff_id).join("shared"))
            .unwrap()
            .len(),
        512 * 1024
    );
    assert_eq!(tmp_entries(&store), 0);
}

#[test]
fn remove_handles_readonly_trees() {
    let (_tmp, store) = store();
    let tar = layer_tar(&[("ro/f", b"x")]);
    let layer = store
        .unpack_reader(&tar[..], None, &mut no_progress())
        .unwrap();
    fs::set_permissions(layer.path.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    fs::set_permissions(&layer.path, fs::Permissions::from_mode(0o500)).unwrap();
    store.remove(&layer.diff_id).unwrap();
    assert!(!store.contains(&layer.diff_id));
    assert!(store.list().unwrap().is_empty());
    assert_eq!(tmp_entries(&store), 0);
    let err = store.remove(&layer.diff_id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = store.size(&layer.diff_id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn open_discards_interrupted_unpacks() {
    let (_tmp, store) = store();
    let leftover = store.root().join("tmp/unpack-crashed/fs/deep");
    fs::create_dir_all(&leftover).unwrap();
    fs::set_permissions(&leftover, fs::Permissions::from_mode(0o000)).unwrap();
    let reopened = LayerStore::open(store.root()).unwrap();
    assert_eq!(tmp_entries(&reopened), 0);
}

#[test]
fn store_is_send_sync_clone() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug>() {}
    assert_traits::<LayerStore>();
}
