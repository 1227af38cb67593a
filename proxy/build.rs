//! Embeds the admin console (`../console`) in the binary: every file the browser
//! loads, with its gzip and brotli forms compressed here, once, at build time, and an
//! ETag from its content. Tests, notes and licences stay out.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// What the browser never loads.
fn skipped(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    relative.starts_with("tests/")
        || relative.starts_with("node_modules/")
        || name.starts_with('.')
        || name.ends_with(".md")
        || name.ends_with(".LICENSE")
        || name.starts_with("package")
}

fn files(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        if skipped(&relative) {
            continue;
        }
        if path.is_dir() {
            files(&path, root, out);
        } else {
            out.push((relative, path));
        }
    }
}

/// 64-bit FNV-1a, hex: the ETag of a file's bytes.
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("..")
        .join("console");
    println!("cargo:rerun-if-changed={}", root.display());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let mut found = Vec::new();
    files(&root, &root, &mut found);
    let mut table = String::from("&[\n");
    for (i, (relative, path)) in found.iter().enumerate() {
        let raw = std::fs::read(path).unwrap_or_default();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let _ = gz.write_all(&raw);
        let gz = gz.finish().unwrap_or_default();
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
            let _ = w.write_all(&raw);
        }
        for (suffix, bytes) in [("raw", &raw), ("gz", &gz), ("br", &br)] {
            let _ = std::fs::write(out_dir.join(format!("console-{i}.{suffix}")), bytes);
        }
        let _ = writeln!(
            table,
            "    Asset {{ path: {relative:?}, etag: {:?}, raw: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/console-{i}.raw\")), gzip: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/console-{i}.gz\")), brotli: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/console-{i}.br\")) }},",
            fnv(&raw)
        );
    }
    table.push(']');
    let _ = std::fs::write(out_dir.join("console_assets.rs"), table);
}
