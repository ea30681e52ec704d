//! The dashboard's reading of `/metrics`, run in the browser on made-up scrapes: rates per
//! callback, a counter reset after a restart, the mean and the p95 from histogram buckets.

use serde_json::{Value, json};

use crate::browser::Browser;
use crate::gateway::Gateway;

/// One scrape's text for callback `a` (and `b`, whose gateway restarted between scrapes).
fn scrape(ok: u64, failed: u64, errors: u64, buckets: [u64; 3], sum: f64, b_calls: u64) -> String {
    let count = buckets[2];
    format!(
        "# HELP faas_invocations Calls by status.\n\
         # TYPE faas_invocations counter\n\
         faas_invocations_total{{path=\"a\",status=\"200\"}} {ok}\n\
         faas_invocations_total{{path=\"a\",status=\"500\"}} {failed}\n\
         faas_invocations_total{{path=\"b\",status=\"200\"}} {b_calls}\n\
         faas_invocation_errors_total{{path=\"a\",code=\"FUNCTION_TIMEOUT\"}} {errors}\n\
         faas_invocation_duration_seconds_bucket{{path=\"a\",le=\"0.05\"}} {}\n\
         faas_invocation_duration_seconds_bucket{{path=\"a\",le=\"0.5\"}} {}\n\
         faas_invocation_duration_seconds_bucket{{path=\"a\",le=\"+Inf\"}} {count}\n\
         faas_invocation_duration_seconds_sum{{path=\"a\"}} {sum}\n\
         faas_invocation_duration_seconds_count{{path=\"a\"}} {count}\n\
         faas_instances{{path=\"a\",state=\"ready\"}} 2\n\
         faas_instances{{path=\"a\",state=\"paused\"}} 1\n\
         faas_builds_total{{result=\"success\"}} 3\n",
        buckets[0], buckets[1]
    )
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[tokio::test]
async fn the_dashboard_turns_two_scrapes_into_rates_latency_and_instance_counts() {
    let Some(gateway) = Gateway::spawn(None).await else {
        return;
    };
    let Some(browser) = Browser::start("metrics", false).await else {
        return;
    };
    browser.goto(&gateway.url("/ui")).await;
    browser.find("main h1", 60).await;

    let before = scrape(3, 0, 0, [0, 0, 0], 0.0, 50);
    // Ten seconds later: 21 more calls (20 + 1), 4 timeouts, 10 under 50 ms, 20 under
    // 500 ms; b's counter restarted from zero and reached 5.
    let after = scrape(23, 1, 4, [10, 20, 21], 4.2, 5);
    let got = browser
        .client
        .execute_async(
            "const [before, after, done] = arguments;
             import('/ui/js/metrics.js').then((m) => {
               const h = new m.History();
               h.add(before, 0);
               h.add(after, 10000);
               done({a: h.latest('a'), b: h.latest('b'), none: h.latest('c'),
                     instances: h.instances('a'), series: h.series('a').length});
             }).catch((e) => done({error: String(e)}));",
            vec![json!(before), json!(after)],
        )
        .await
        .expect("script");
    assert!(got.get("error").is_none(), "{got:#}");
    let a = &got["a"];
    assert!(close(&a["calls"], 2.1), "21 calls in 10 s: {got:#}");
    assert!(close(&a["errors"], 0.4), "4 errors in 10 s: {got:#}");
    assert!(close(&a["mean"], 0.2), "4.2 s over 21 calls: {got:#}");
    // The 95th of 21 calls (19.95) lies in the 50–500 ms bucket, 9.95 of its 10 calls in.
    assert!(close(&a["p95"], 0.05 + 0.45 * 0.995), "{got:#}");
    assert!(
        close(&got["b"]["calls"], 0.5),
        "a reset counts from zero: {got:#}"
    );
    let none = &got["none"];
    assert!(close(&none["calls"], 0.0), "never called: {got:#}");
    assert_eq!(
        none["mean"],
        Value::Null,
        "no latency without calls: {got:#}"
    );
    assert_eq!(none["p95"], Value::Null, "{got:#}");
    assert_eq!(
        got["instances"],
        json!({"ready": 2, "paused": 1}),
        "{got:#}"
    );
    assert_eq!(got["series"], 1, "{got:#}");
}
