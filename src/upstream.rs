//! Talking to instances over HTTP: the pooled client every call goes through, and the probe
//! that tells when a starting instance serves.

use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::executor::Instance;

/// The pooled HTTP/1.1 client used for every call to an instance.
pub type HttpClient = Client<HttpConnector, Body>;

/// Builds the shared client: keep-alive connections, no Nagle delay.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(50))
        .pool_max_idle_per_host(256)
        .build(connector)
}

/// Tells whether an instance's runtime serves.
#[async_trait]
pub trait Probe: Send + Sync + 'static {
    /// Whether `instance` answers its health check now.
    async fn healthy(&self, instance: &Instance) -> bool;
}

/// The runtime protocol's health check: `GET /_/health` answered 200 by the instance itself.
pub struct HttpProbe {
    client: HttpClient,
}

impl HttpProbe {
    /// A probe over `client`.
    pub fn new(client: HttpClient) -> Self {
        HttpProbe { client }
    }
}

#[async_trait]
impl Probe for HttpProbe {
    /// The runtime names itself (`X-Faas-Instance`: its hostname, i.e. the container id's
    /// prefix or the pod name): an answer from another instance that took over a freed
    /// address does not count.
    async fn healthy(&self, instance: &Instance) -> bool {
        let endpoint = instance.endpoint;
        if endpoint.port() == 0 {
            return false;
        }
        let Ok(req) = http::Request::get(format!("http://{endpoint}/_/health")).body(Body::empty())
        else {
            return false;
        };
        match tokio::time::timeout(Duration::from_secs(2), self.client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => resp
                .headers()
                .get("x-faas-instance")
                .and_then(|v| v.to_str().ok())
                .is_none_or(|name| !name.is_empty() && instance.id.starts_with(name)),
            _ => false,
        }
    }
}
