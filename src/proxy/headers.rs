//! Header rules of the proxy (SPEC 2.3), as pure functions over `HeaderMap`s.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers (RFC 9110 7.6.1 and the ones proxies traditionally drop).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Internal header carrying the call's deadline (epoch ms) to the runtime.
pub const DEADLINE_HEADER: &str = "x-faas-deadline-ms";

/// Removes hop-by-hop headers and those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// What the gateway knows about the caller of one request.
#[derive(Debug, Clone)]
pub struct Forwarded<'a> {
    pub request_id: &'a str,
    pub client_ip: Option<std::net::IpAddr>,
    pub deadline_ms: i64,
}

/// Rewrites a client's request headers for the function.
pub fn to_function(headers: &mut HeaderMap, f: &Forwarded<'_>) {
    strip_hop_by_hop(headers);
    let host = headers.remove(header::HOST);
    if let Some(ip) = f.client_ip {
        let chain = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
            _ => ip.to_string(),
        };
        set(headers, "x-forwarded-for", &chain);
    }
    if let Some(host) = host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if !headers.contains_key("x-forwarded-proto") {
        set(headers, "x-forwarded-proto", "http");
    }
    set(headers, "x-request-id", f.request_id);
    set(
        headers,
        DEADLINE_HEADER,
        itoa::Buffer::new().format(f.deadline_ms),
    );
}

/// How the call got its instance, as the response tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// It waited for a new instance to start.
    pub cold: bool,
    /// It waited for a paused instance to resume.
    pub resumed: bool,
}

/// Adds the gateway's headers to a function's response, hop-by-hop ones removed.
pub fn to_client(headers: &mut HeaderMap, request_id: &str, revision: u64, arrival: Arrival) {
    strip_hop_by_hop(headers);
    set(headers, "x-request-id", request_id);
    let mut number = itoa::Buffer::new();
    set(headers, "x-faas-revision", number.format(revision));
    headers.insert(
        HeaderName::from_static("x-faas-cold-start"),
        HeaderValue::from_static(if arrival.cold { "true" } else { "false" }),
    );
    if arrival.resumed {
        headers.insert(
            HeaderName::from_static("x-faas-resumed"),
            HeaderValue::from_static("true"),
        );
    }
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn fwd() -> Forwarded<'static> {
        Forwarded {
            request_id: "rid-1",
            client_ip: Some("127.0.0.9".parse().expect("ip")),
            deadline_ms: 42,
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_dropped() {
        let mut h = map(&[
            ("connection", "close, x-secret"),
            ("x-secret", "1"),
            ("keep-alive", "5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn forwarding_headers_are_added_and_appended() {
        let mut h = map(&[("host", "gw.example:8000"), ("x-forwarded-for", "10.0.0.1")]);
        to_function(&mut h, &fwd());
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.9");
        assert_eq!(h["x-forwarded-host"], "gw.example:8000");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-request-id"], "rid-1");
        assert_eq!(h[DEADLINE_HEADER], "42");
        assert!(!h.contains_key("host"));
    }

    #[test]
    fn a_client_supplied_deadline_or_request_id_is_replaced() {
        let mut h = map(&[(DEADLINE_HEADER, "1"), ("x-request-id", "spoof")]);
        to_function(&mut h, &fwd());
        assert_eq!(h.get_all(DEADLINE_HEADER).iter().count(), 1);
        assert_eq!(h[DEADLINE_HEADER], "42");
        assert_eq!(h["x-request-id"], "rid-1");
    }

    #[test]
    fn repeated_headers_reach_the_function_intact() {
        let mut h = map(&[("x-multi", "a"), ("x-multi", "b")]);
        to_function(&mut h, &fwd());
        assert_eq!(h.get_all("x-multi").iter().count(), 2);
    }

    #[test]
    fn a_resumed_call_says_so() {
        let mut h = HeaderMap::new();
        let arrival = Arrival {
            cold: false,
            resumed: true,
        };
        to_client(&mut h, "r", 3, arrival);
        assert_eq!(h["x-faas-resumed"], "true");
        assert_eq!(h["x-faas-cold-start"], "false");
    }

    #[test]
    fn responses_carry_revision_cold_start_and_request_id() {
        let mut h = map(&[("connection", "keep-alive"), ("content-type", "text/plain")]);
        to_client(
            &mut h,
            "rid",
            7,
            Arrival {
                cold: true,
                resumed: false,
            },
        );
        assert_eq!(h["x-faas-revision"], "7");
        assert_eq!(h["x-faas-cold-start"], "true");
        assert_eq!(h["x-request-id"], "rid");
        assert!(!h.contains_key("connection"));
    }
}
