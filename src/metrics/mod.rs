//! Prometheus metrics (SPEC section 6). Counters and histograms are atomics behind a shared
//! read lock per label set, so the hot path never serialises requests; gauges of instances and
//! queues are read from the pools when `/metrics` is scraped.

mod handles;

use handles::Handles;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::model::{Quota, QuotaField, Usage};

/// The instance and queue gauges of one callback, as read when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackGauges {
    pub path: String,
    pub starting: u32,
    pub ready: u32,
    pub draining: u32,
    pub paused: u32,
    pub queued: usize,
}

/// What one namespace uses and may use, as read when `/metrics` is scraped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceGauges {
    pub namespace: String,
    pub usage: Usage,
    pub quota: Quota,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NamespaceResource {
    namespace: String,
    resource: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathStatus {
    path: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathCode {
    path: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabel {
    path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathState {
    path: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildResult {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn slow_histogram() -> Histogram {
    // 50 ms … ~14 min: cold starts and builds.
    Histogram::new(exponential_buckets(0.05, 2.0, 15))
}

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    invocations: Family<PathStatus, Counter>,
    invocation_errors: Family<PathCode, Counter>,
    invocation_duration: Histograms<PathLabel>,
    cold_starts: Family<PathLabel, Counter>,
    cold_start_duration: Histograms<PathLabel>,
    resumes: Family<PathLabel, Counter>,
    resume_duration: Histograms<PathLabel>,
    instances: Family<PathState, Gauge>,
    builds: Family<BuildResult, Counter>,
    build_duration: Histogram,
    queue_depth: Family<PathLabel, Gauge>,
    http_requests: Family<RouteStatus, Counter>,
    namespace_usage: Family<NamespaceResource, Gauge>,
    namespace_quota: Family<NamespaceResource, Gauge>,
    // Handles into the families above for the per-request calls (never cleared: neither are
    // those families).
    hot_invocations: Handles<Counter>,
    hot_durations: Handles<Histogram>,
    hot_requests: Handles<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut m = Metrics {
            registry: Registry::default(),
            invocations: Family::default(),
            invocation_errors: Family::default(),
            invocation_duration: Family::new_with_constructor(latency_histogram),
            cold_starts: Family::default(),
            cold_start_duration: Family::new_with_constructor(slow_histogram),
            resumes: Family::default(),
            resume_duration: Family::new_with_constructor(latency_histogram),
            instances: Family::default(),
            builds: Family::default(),
            build_duration: slow_histogram(),
            queue_depth: Family::default(),
            http_requests: Family::default(),
            namespace_usage: Family::default(),
            namespace_quota: Family::default(),
            hot_invocations: Handles::default(),
            hot_durations: Handles::default(),
            hot_requests: Handles::default(),
        };
        let r = &mut m.registry;
        r.register(
            "faas_invocations",
            "Calls to /api/<path> by HTTP status",
            m.invocations.clone(),
        );
        r.register(
            "faas_invocation_errors",
            "Gateway-made invocation errors by code",
            m.invocation_errors.clone(),
        );
        r.register(
            "faas_invocation_duration_seconds",
            "Time to the response's headers",
            m.invocation_duration.clone(),
        );
        r.register(
            "faas_cold_starts",
            "Instances started for waiting calls (not those kept up for min_instances)",
            m.cold_starts.clone(),
        );
        r.register(
            "faas_cold_start_duration_seconds",
            "Time for such an instance to become healthy",
            m.cold_start_duration.clone(),
        );
        r.register(
            "faas_resumes",
            "Paused instances resumed for waiting calls",
            m.resumes.clone(),
        );
        r.register(
            "faas_resume_duration_seconds",
            "Time for such an instance to answer again",
            m.resume_duration.clone(),
        );
        r.register("faas_instances", "Instances by state", m.instances.clone());
        r.register("faas_builds", "Image builds by result", m.builds.clone());
        r.register(
            "faas_build_duration_seconds",
            "Image build time",
            m.build_duration.clone(),
        );
        r.register(
            "faas_queue_depth",
            "Calls waiting for an instance",
            m.queue_depth.clone(),
        );
        r.register(
            "faas_http_requests",
            "HTTP requests by route and status",
            m.http_requests.clone(),
        );
        r.register(
            "faas_namespace_usage",
            "What each namespace uses: callbacks, instances, memory_mb",
            m.namespace_usage.clone(),
        );
        r.register(
            "faas_namespace_quota",
            "Each namespace's limits (absent: unlimited)",
            m.namespace_quota.clone(),
        );
        m
    }
}

impl Metrics {
    /// One finished call: its status, duration, and the gateway's error code if it made one.
    pub fn invocation(&self, path: &str, status: u16, seconds: f64, code: Option<&str>) {
        self.hot_invocations
            .get(path, status, || {
                self.invocations
                    .get_or_create(&PathStatus {
                        path: path.to_owned(),
                        status,
                    })
                    .clone()
            })
            .inc();
        self.hot_durations
            .get(path, 0, || {
                let p = PathLabel {
                    path: path.to_owned(),
                };
                self.invocation_duration.get_or_create(&p).clone()
            })
            .observe(seconds);
        if let Some(code) = code {
            self.invocation_errors
                .get_or_create(&PathCode {
                    path: path.to_owned(),
                    code: code.to_owned(),
                })
                .inc();
        }
    }

    /// An instance started for waiting calls, in `seconds`.
    pub fn cold_start(&self, path: &str, seconds: f64) {
        let p = PathLabel {
            path: path.to_owned(),
        };
        self.cold_starts.get_or_create(&p).inc();
        self.cold_start_duration.get_or_create(&p).observe(seconds);
    }

    /// A paused instance resumed for waiting calls, in `seconds`.
    pub fn resume(&self, path: &str, seconds: f64) {
        let p = PathLabel {
            path: path.to_owned(),
        };
        self.resumes.get_or_create(&p).inc();
        self.resume_duration.get_or_create(&p).observe(seconds);
    }

    /// Sets the namespace gauges to `gauges` (read before each scrape).
    pub fn set_namespaces(&self, gauges: &[NamespaceGauges]) {
        self.namespace_usage.clear();
        self.namespace_quota.clear();
        for g in gauges {
            for field in QuotaField::ALL {
                let labels = NamespaceResource {
                    namespace: g.namespace.clone(),
                    resource: field.resource(),
                };
                let used = i64::try_from(field.used(&g.usage)).unwrap_or(i64::MAX);
                self.namespace_usage.get_or_create(&labels).set(used);
                if let Some(limit) = field.limit(&g.quota) {
                    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                    self.namespace_quota.get_or_create(&labels).set(limit);
                }
            }
        }
    }

    /// An image build finished.
    pub fn build(&self, ok: bool, seconds: f64) {
        let result = if ok { "success" } else { "failure" };
        self.builds.get_or_create(&BuildResult { result }).inc();
        self.build_duration.observe(seconds);
    }

    /// One HTTP request on `route` (the route's template, not the raw path).
    pub fn http_request(&self, route: &str, status: u16) {
        self.hot_requests
            .get(route, status, || {
                self.http_requests
                    .get_or_create(&RouteStatus {
                        route: route.to_owned(),
                        status,
                    })
                    .clone()
            })
            .inc();
    }

    /// The text exposition, with the instance and queue gauges given.
    pub fn render(&self, gauges: &[CallbackGauges]) -> String {
        self.instances.clear();
        self.queue_depth.clear();
        for g in gauges {
            let path = g.path.clone();
            for (state, n) in [
                ("starting", g.starting),
                ("ready", g.ready),
                ("draining", g.draining),
                ("paused", g.paused),
            ] {
                self.instances
                    .get_or_create(&PathState {
                        path: path.clone(),
                        state,
                    })
                    .set(i64::from(n));
            }
            self.queue_depth
                .get_or_create(&PathLabel { path })
                .set(i64::try_from(g.queued).unwrap_or(i64::MAX));
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_their_labels() {
        let m = Metrics::default();
        m.invocation("hello", 200, 0.01, None);
        m.invocation("hello", 504, 1.0, Some("FUNCTION_TIMEOUT"));
        m.build(true, 3.0);
        let text = m.render(&[CallbackGauges {
            path: "hello".into(),
            ready: 2,
            queued: 3,
            ..CallbackGauges::default()
        }]);
        assert!(
            text.contains(r#"faas_instances{path="hello",state="ready"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"faas_queue_depth{path="hello"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"faas_invocations_total{path="hello",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"faas_invocation_errors_total{path="hello",code="FUNCTION_TIMEOUT"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"faas_builds_total{result="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("faas_invocation_duration_seconds_bucket"),
            "{text}"
        );
    }
}
