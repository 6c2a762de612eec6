//! Building a test tree of directories and files, and comparing two trees byte for byte.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::random_bytes;

/// What a tree holds: relative path -> `None` for a directory, `Some(bytes)` for a file.
pub type Tree = BTreeMap<String, Option<Vec<u8>>>;

/// A nested tree with files of various sizes: a few MiB of random bytes, an empty file, sizes
/// around buffer boundaries, names with spaces, an empty directory.
pub fn sample(under: &Path) {
    let files: &[(&str, usize)] = &[
        ("top.txt", 12),
        ("empty", 0),
        ("one byte", 1),
        ("name with spaces.txt", 4_321),
        ("a/64k.bin", 65_536),
        ("a/64k+1.bin", 65_537),
        ("a/b/c/deep.bin", 100_000),
        ("a/b/random.bin", 3 * 1024 * 1024 + 17),
        ("dir with spaces/inner file", 999),
        ("dir with spaces/nested/x", 7),
    ];
    for (i, (rel, len)) in files.iter().enumerate() {
        let path = under.join(rel);
        fs::create_dir_all(path.parent().unwrap()).expect("create dirs");
        fs::write(&path, random_bytes(*len, 1000 + i as u64)).expect("write file");
    }
    fs::create_dir_all(under.join("a/empty dir")).expect("create empty dir");
}

/// Reads a whole tree (dot files included).
pub fn read(root: &Path) -> Tree {
    let mut tree = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {dir:?}: {e}")) {
            let path = entry.expect("entry").path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            if meta.is_dir() {
                tree.insert(rel, None);
                stack.push(path);
            } else {
                tree.insert(rel, Some(fs::read(&path).expect("read file")));
            }
        }
    }
    tree
}

/// Asserts that two trees hold the same names, kinds and bytes, naming the first difference
/// (without printing megabytes of contents).
pub fn assert_same(expected: &Path, actual: &Path) {
    let (a, b) = (read(expected), read(actual));
    let names_a: Vec<&String> = a.keys().collect();
    let names_b: Vec<&String> = b.keys().collect();
    assert_eq!(
        names_a, names_b,
        "tree names differ: {expected:?} vs {actual:?}"
    );
    for (name, want) in &a {
        let got = &b[name];
        match (want, got) {
            (None, None) => {}
            (Some(x), Some(y)) => assert!(
                x == y,
                "{name}: contents differ ({} vs {} bytes)",
                x.len(),
                y.len()
            ),
            _ => panic!("{name}: a directory in one tree, a file in the other"),
        }
    }
}
