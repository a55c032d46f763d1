//! Lectern's own static files (CSS, JavaScript, the vendored mermaid.js), embedded in the binary and
//! served under content-hashed URLs, so browsers may cache them forever and still see every change.

use std::collections::HashMap;

use bytes::Bytes;

#[derive(rust_embed::Embed)]
#[folder = "static/"]
#[exclude = "screenshots/*"]
struct StaticFiles;

mod precompressed {
    include!(concat!(env!("OUT_DIR"), "/precompressed.rs"));
}

/// One servable file.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file's bytes, borrowed from the binary.
    pub body: Bytes,
    /// The same bytes compressed at build time (brotli quality 11, then gzip level 9), for
    /// clients that accept them; `None` for files that do not shrink (see `build.rs`).
    pub compressed: Option<Compressed>,
    /// Its MIME type.
    pub content_type: String,
    /// A strong validator derived from the content hash.
    pub etag: String,
    /// Whether the URL carries the content hash, so the response can be cached as immutable.
    pub immutable: bool,
}

/// A file's brotli and gzip encodings, made by `build.rs`.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// `Content-Encoding: br`.
    pub brotli: Bytes,
    /// `Content-Encoding: gzip`.
    pub gzip: Bytes,
}

/// The URLs templates link to, fingerprinted.
#[derive(Debug, Clone, Default)]
pub struct AssetUrls {
    /// The site stylesheet.
    pub css: String,
    /// Lectern's own script (copy buttons, diagrams).
    pub js: String,
    /// The vendored mermaid.js, loaded only on pages with diagrams.
    pub mermaid: String,
    /// The favicon.
    pub icon: String,
}

/// Every static file by URL, built once at start.
#[derive(Debug)]
pub struct Assets {
    by_url: HashMap<String, Asset>,
    /// For templates.
    pub urls: AssetUrls,
}

impl Assets {
    /// Indexes the embedded files under both their hashed and their plain URLs.
    pub fn load() -> Self {
        let mut by_url = HashMap::new();
        let mut hashed_urls = HashMap::new();
        let compressed: HashMap<&str, Compressed> = precompressed::PRECOMPRESSED
            .iter()
            .map(|(path, brotli, gzip)| {
                let variants = Compressed {
                    brotli: Bytes::from_static(brotli),
                    gzip: Bytes::from_static(gzip),
                };
                (*path, variants)
            })
            .collect();
        for path in StaticFiles::iter() {
            let Some(file) = StaticFiles::get(&path) else {
                continue;
            };
            let hash: String = file.metadata.sha256_hash()[..5]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let body = match file.data {
                std::borrow::Cow::Borrowed(bytes) => Bytes::from_static(bytes),
                std::borrow::Cow::Owned(bytes) => Bytes::from(bytes),
            };
            let content_type = mime_guess::from_path(path.as_ref())
                .first_or_octet_stream()
                .to_string();
            let content_type =
                if content_type.starts_with("text/") || content_type.ends_with("javascript") {
                    format!("{content_type}; charset=utf-8")
                } else {
                    content_type
                };
            let etag = format!("\"{hash}\"");
            let hashed = hashed_name(&path, &hash);
            let asset = Asset {
                compressed: compressed.get(path.as_ref()).cloned(),
                body,
                content_type,
                etag,
                immutable: false,
            };
            by_url.insert(
                format!("/static/{hashed}"),
                Asset {
                    immutable: true,
                    ..asset.clone()
                },
            );
            by_url.insert(format!("/static/{path}"), asset);
            hashed_urls.insert(path.into_owned(), format!("/static/{hashed}"));
        }
        let url = |path: &str| {
            hashed_urls
                .get(path)
                .cloned()
                .unwrap_or_else(|| format!("/static/{path}"))
        };
        let urls = AssetUrls {
            css: url("css/lectern.css"),
            js: url("js/lectern.js"),
            mermaid: url("vendor/mermaid/mermaid.min.js"),
            icon: url("favicon.svg"),
        };
        Self { by_url, urls }
    }

    /// The asset at a `/static/…` URL.
    pub fn get(&self, url: &str) -> Option<&Asset> {
        self.by_url.get(url)
    }
}

/// `css/lectern.css` → `css/lectern.1a2b3c4d5e.css`.
fn hashed_name(path: &str, hash: &str) -> String {
    let (dir, name) = path.rsplit_once('/').map_or(("", path), |(d, n)| (d, n));
    let (stem, ext) = name.split_once('.').unwrap_or((name, ""));
    let sep = if dir.is_empty() { "" } else { "/" };
    if ext.is_empty() {
        format!("{dir}{sep}{stem}.{hash}")
    } else {
        format!("{dir}{sep}{stem}.{hash}.{ext}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_go_before_the_extension() {
        assert_eq!(hashed_name("css/lectern.css", "abc"), "css/lectern.abc.css");
        assert_eq!(
            hashed_name("vendor/mermaid/mermaid.min.js", "abc"),
            "vendor/mermaid/mermaid.abc.min.js"
        );
        assert_eq!(hashed_name("favicon.svg", "abc"), "favicon.abc.svg");
    }

    #[test]
    fn every_template_asset_exists_under_a_hashed_url() {
        let assets = Assets::load();
        for url in [
            &assets.urls.css,
            &assets.urls.js,
            &assets.urls.mermaid,
            &assets.urls.icon,
        ] {
            let asset = assets.get(url).unwrap_or_else(|| panic!("{url} missing"));
            assert!(asset.immutable, "{url} is not fingerprinted");
        }
    }
}
