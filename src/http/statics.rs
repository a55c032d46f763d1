//! Endpoint for Lectern's own static files: fingerprinted URLs are immutable, plain ones revalidate.
//! Files are sent as compressed at build time (brotli, else gzip) when the client accepts it, so a
//! class opening the course at once costs no compression CPU.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::Response;

use super::Error;
use super::pages::cached;
use crate::app::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// `/static/{path}`.
pub(super) async fn serve(
    State(app): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let Some(asset) = app.assets.get(uri.path()) else {
        return Err(Error::NotFound(format!(
            "There is no file at {}.",
            uri.path()
        )));
    };
    let cache = if asset.immutable {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    // A header repeated is one list (RFC 9110 §5.3): every `Accept-Encoding` line counts.
    let accepted = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let Some(compressed) = &asset.compressed else {
        return Ok(cached(
            &headers,
            &asset.etag,
            cache,
            &asset.content_type,
            asset.body.clone(),
        ));
    };
    // Each encoding is its own representation, with its own strong validator.
    let tag = asset.etag.trim_end_matches('"');
    let (body, encoding, etag) = match preferred_encoding(&accepted) {
        Some("br") => (compressed.brotli.clone(), Some("br"), format!("{tag}-br\"")),
        Some("gzip") => (compressed.gzip.clone(), Some("gzip"), format!("{tag}-gz\"")),
        _ => (asset.body.clone(), None, asset.etag.clone()),
    };
    let mut response = cached(&headers, &etag, cache, &asset.content_type, body);
    response.extensions_mut().insert(Precompressed);
    let response_headers = response.headers_mut();
    response_headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = encoding {
        response_headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    }
    Ok(response)
}

/// Marks a static file that was compressed at build time: sent as chosen here, never compressed
/// again per request (which would cost CPU and carry the uncompressed file's `ETag`).
#[derive(Debug, Clone, Copy)]
struct Precompressed;

/// The compression layer's predicate: leave precompressed static files alone.
pub(super) fn not_precompressed(
    _: axum::http::StatusCode,
    _: axum::http::Version,
    _: &HeaderMap,
    extensions: &axum::http::Extensions,
) -> bool {
    extensions.get::<Precompressed>().is_none()
}

/// The encoding to send for an `Accept-Encoding` value: brotli or gzip, whichever the client
/// weighs more (brotli on a tie, as it is smaller); `None` for the file as it is. Follows RFC 9110
/// §12.5.3: `q=0` refuses a coding, `*` stands for codings not named, and no header means identity
/// is fine.
fn preferred_encoding(accepted: &str) -> Option<&'static str> {
    let mut weights: Vec<(String, f32)> = Vec::new();
    for item in accepted.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if coding.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        weights.push((coding, q));
    }
    let weight = |coding: &str| {
        weights
            .iter()
            .find(|(c, _)| c == coding)
            .or_else(|| weights.iter().find(|(c, _)| c == "*"))
            .map_or(0.0, |(_, q)| *q)
    };
    let (brotli, gzip) = (weight("br"), weight("gzip").max(weight("x-gzip")));
    if brotli > 0.0 && brotli >= gzip {
        Some("br")
    } else if gzip > 0.0 {
        Some("gzip")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::preferred_encoding;

    #[test]
    fn the_client_chooses_the_encoding_by_weight() {
        for (accepted, expected) in [
            ("gzip, deflate, br, zstd", Some("br")),
            ("gzip, deflate", Some("gzip")),
            ("br;q=0, gzip", Some("gzip")),
            ("gzip;q=1.0, br;q=0.5", Some("gzip")),
            ("BR", Some("br")),
            ("*", Some("br")),
            ("*;q=0", None),
            ("identity", None),
            ("gzip;q=0, br;q=0", None),
            ("", None),
            ("x-gzip", Some("gzip")),
            (";;;,,q=", None),
        ] {
            assert_eq!(preferred_encoding(accepted), expected, "{accepted:?}");
        }
    }
}
