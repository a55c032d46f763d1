//! Compresses Lectern's static files once, at build time, with brotli and gzip at their best
//! levels, so serving them costs no CPU: a class opening the course at once would otherwise queue
//! behind compressing the 5.5 MB mermaid.js again for every first visit. The results are embedded
//! beside the originals (`$OUT_DIR/precompressed.rs`, read by `src/assets.rs`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Files smaller than this are not worth a second and third copy.
const MIN_BYTES: u64 = 1024;

fn main() {
    println!("cargo:rerun-if-changed=static");
    // sqlx::migrate! embeds `migrations/`; cargo must rebuild when a migration is added.
    println!("cargo:rerun-if-changed=migrations");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut files = Vec::new();
    collect(Path::new("static"), &mut files);
    files.sort();
    let mut table = String::from(
        "/// (path under `static/`, brotli, gzip) for each file worth compressing.\n\
         pub(crate) static PRECOMPRESSED: &[(&str, &[u8], &[u8])] = &[\n",
    );
    for path in files {
        let relative = path
            .strip_prefix("static")
            .expect("under static/")
            .to_string_lossy()
            .replace('\\', "/");
        let original = std::fs::read(&path).expect("a static file is readable");
        let brotli = brotli_best(&original);
        let gzip = gzip_best(&original);
        // Already-compressed formats (images, fonts) do not shrink: serve them as they are.
        if brotli.len() as f64 > original.len() as f64 * 0.9 {
            continue;
        }
        let name = relative.replace('/', "__");
        let (br_path, gz_path) = (
            out.join(format!("{name}.br")),
            out.join(format!("{name}.gz")),
        );
        std::fs::write(&br_path, &brotli).expect("OUT_DIR is writable");
        std::fs::write(&gz_path, &gzip).expect("OUT_DIR is writable");
        writeln!(
            table,
            "    ({relative:?}, include_bytes!({:?}), include_bytes!({:?})),",
            br_path.display().to_string(),
            gz_path.display().to_string()
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    std::fs::write(out.join("precompressed.rs"), table).expect("OUT_DIR is writable");
}

/// Every file under `dir` worth compressing, except the README's screenshots (not embedded).
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("static/ is readable");
    for entry in entries {
        let path = entry.expect("static/ is readable").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "screenshots") {
                collect(&path, files);
            }
        } else if path.metadata().is_ok_and(|m| m.len() >= MIN_BYTES) {
            files.push(path);
        }
    }
}

/// Brotli at quality 11 with the largest window.
fn brotli_best(data: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::new();
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 24,
        size_hint: data.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &data[..], &mut compressed, &params).expect("brotli in memory");
    compressed
}

/// gzip at level 9.
fn gzip_best(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}
