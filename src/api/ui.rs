//! The web dashboard (SPEC 9): static HTML, CSS and JavaScript from `ui/`, embedded in the
//! binary and served without a token; the page itself calls the public API with the token the
//! user enters.
//!
//! The files change only with the binary, but their names carry no version, so browsers are
//! told to revalidate every time (`no-cache`) against a strong `ETag` of the content: a reload
//! costs a `304` per file, and an upgraded gateway never serves a stale script.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::model::ErrorCode;

/// The dashboard's files.
static UI: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/ui");

/// What the dashboard may load: only its own files and the gateway's API, so a function's log
/// line or a callback's name can never run script or send the token elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

/// The dashboard's routes, open to everyone (SPEC 2.4).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*file}", get(asset))
}

/// The dashboard's page.
async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// One of the dashboard's files.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(file) = UI.get_file(name) else {
        return ApiError::new(
            ErrorCode::RouteNotFound,
            format!("the dashboard has no file {name}"),
        )
        .into_response();
    };
    let etag = etag_of(name, file.contents());
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.contents().into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if name.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}

/// A strong validator of a file's content, computed once per file.
fn etag_of(name: &str, contents: &[u8]) -> String {
    static TAGS: OnceLock<HashMap<String, String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = HashMap::new();
        collect_tags(&UI, &mut tags);
        tags
    });
    tags.get(name).cloned().unwrap_or_else(|| tag(contents))
}

fn collect_tags(dir: &Dir<'static>, tags: &mut HashMap<String, String>) {
    for file in dir.files() {
        tags.insert(
            file.path().to_string_lossy().into_owned(),
            tag(file.contents()),
        );
    }
    for sub in dir.dirs() {
        collect_tags(sub, tags);
    }
}

fn tag(contents: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(contents));
    format!("\"{}\"", &digest[..16])
}

/// The media type of a dashboard file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use regex::Regex;
    use tower::ServiceExt;

    use super::*;

    async fn get(uri: &str, if_none_match: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::get(uri);
        if let Some(tag) = if_none_match {
            req = req.header(header::IF_NONE_MATCH, tag);
        }
        let resp = routes::<()>()
            .oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, body.to_vec())
    }

    fn header_of(headers: &HeaderMap, name: header::HeaderName) -> &str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn the_page_is_served_at_ui_with_and_without_a_trailing_slash() {
        let (status, headers, body) = get("/ui", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(header_of(&headers, header::CONTENT_TYPE).starts_with("text/html"));
        assert!(header_of(&headers, header::CONTENT_SECURITY_POLICY).contains("default-src"));
        let (status, _, again) = get("/ui/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, again);
        assert_eq!(body, UI.get_file("index.html").expect("page").contents());
    }

    #[tokio::test]
    async fn assets_carry_their_media_type_and_a_revalidating_cache_header() {
        for file in ["style.css", "js/app.js", "favicon.svg"] {
            let (status, headers, body) = get(&format!("/ui/{file}"), None).await;
            assert_eq!(status, StatusCode::OK, "{file}");
            assert_eq!(body, UI.get_file(file).expect("embedded").contents());
            assert_eq!(
                header_of(&headers, header::CONTENT_TYPE),
                content_type(file)
            );
            assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-cache");
            assert_eq!(
                header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff"
            );
        }
        assert!(content_type("js/app.js").starts_with("text/javascript"));
        assert!(content_type("style.css").starts_with("text/css"));
    }

    #[tokio::test]
    async fn a_matching_etag_answers_304_and_a_stale_one_the_file() {
        let (_, headers, _) = get("/ui/js/app.js", None).await;
        let tag = header_of(&headers, header::ETAG).to_owned();
        assert!(tag.starts_with('"') && tag.len() > 2, "{tag}");
        let (status, _, body) = get("/ui/js/app.js", Some(&tag)).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        let (status, _, body) = get("/ui/js/app.js", Some("\"stale\"")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.is_empty());
    }

    #[tokio::test]
    async fn files_outside_the_dashboard_are_route_not_found() {
        for uri in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/js", "/ui/js/"] {
            let (status, _, body) = get(uri, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            let json: serde_json::Value = serde_json::from_slice(&body).expect("envelope");
            assert_eq!(json["error"]["code"], "ROUTE_NOT_FOUND", "{uri}");
        }
    }

    /// Every file the page or a module names is embedded: a typo in an import is a blank page.
    #[test]
    fn every_file_the_page_and_its_modules_name_is_embedded() {
        let page = std::str::from_utf8(UI.get_file("index.html").expect("page").contents())
            .expect("utf-8");
        let linked = Regex::new(r#"(?:href|src)="/ui/([^"]+)""#).expect("regex");
        let mut named: Vec<String> = linked
            .captures_iter(page)
            .map(|c| c[1].to_owned())
            .collect();
        assert!(named.iter().any(|n| n == "js/app.js"), "{named:?}");
        let import = Regex::new(r#"(?m)^import .* from "\./([^"]+)";"#).expect("regex");
        let modules = UI.get_dir("js").expect("js").files();
        for module in modules {
            let text = std::str::from_utf8(module.contents()).expect("utf-8");
            named.extend(import.captures_iter(text).map(|c| format!("js/{}", &c[1])));
        }
        for name in &named {
            assert!(
                UI.get_file(name).is_some(),
                "{name} is named but not embedded"
            );
        }
    }
}
