//! The event a job-mode function receives, built by the gateway exactly as the runtime builds
//! it in service mode (SPEC 2.3 and 4).

use base64::Engine;
use http::HeaderMap;
use serde_json::{Map, Value, json};

use super::headers::DEADLINE_HEADER;

/// `{"method","path","query","headers","body","is_base64"}` for one request.
pub fn build(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Value {
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    json!({
        "method": method,
        "path": if path.is_empty() { "/" } else { path },
        "query": query_map(query.unwrap_or("")),
        "headers": header_map(headers),
        "body": body,
        "is_base64": is_base64,
    })
}

/// A key seen once is a string, a repeated key a list (blank values kept).
fn query_map(raw: &str) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            None => {
                map.insert(k.into_owned(), v);
            }
            Some(Value::Array(list)) => list.push(v),
            Some(first) => *first = Value::Array(vec![first.take(), v]),
        }
    }
    map
}

/// Lower-case names; repeated headers joined with `, ` (`cookie` with `; `).
fn header_map(headers: &HeaderMap) -> Map<String, Value> {
    let mut map = Map::new();
    for name in headers.keys() {
        if name.as_str() == DEADLINE_HEADER {
            continue;
        }
        let sep = if name == http::header::COOKIE {
            "; "
        } else {
            ", "
        };
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(sep);
        map.insert(name.as_str().to_owned(), Value::String(joined));
    }
    map
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn query_keys_seen_once_are_strings_and_repeated_ones_lists() {
        let e = build(
            "GET",
            "/x",
            Some("a=1&b=2&b=3&c=&d=x+y%21"),
            &HeaderMap::new(),
            b"",
        );
        assert_eq!(
            e["query"],
            json!({"a": "1", "b": ["2", "3"], "c": "", "d": "x y!"})
        );
    }

    #[test]
    fn headers_join_and_cookies_join_with_semicolons() {
        let mut h = HeaderMap::new();
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("cookie", HeaderValue::from_static("b=2"));
        h.append(DEADLINE_HEADER, HeaderValue::from_static("5"));
        let e = build("POST", "", None, &h, b"");
        assert_eq!(e["headers"], json!({"x-a": "1, 2", "cookie": "a=1; b=2"}));
        assert_eq!(e["path"], "/");
    }

    #[test]
    fn bodies_that_are_not_utf8_are_base64() {
        let e = build("POST", "/", None, &HeaderMap::new(), &[0xff, 0x00, 0x41]);
        assert_eq!(
            (e["body"].as_str(), e["is_base64"].as_bool()),
            (Some("/wBB"), Some(true))
        );
        let e = build("POST", "/", None, &HeaderMap::new(), "héllo".as_bytes());
        assert_eq!(
            (e["body"].as_str(), e["is_base64"].as_bool()),
            (Some("héllo"), Some(false))
        );
    }
}
