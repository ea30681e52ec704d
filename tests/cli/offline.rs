//! The command line without Docker: its help, completions and usage errors, and its requests
//! and output against a small stand-in gateway that answers as the contract says.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Json, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::helpers::{BIN, cli_command, run_cli, write_tree};

/// One request the stand-in gateway received: its path and query, token, and body.
type Request = (String, Option<String>, Value);

/// What the stand-in gateway received.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Request>>>);

impl Seen {
    fn push(&self, uri: String, headers: &HeaderMap, body: Value) {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.0.lock().expect("seen").push((uri, auth, body));
    }

    fn all(&self) -> Vec<Request> {
        self.0.lock().expect("seen").clone()
    }
}

/// Serves `router` on a free loopback port; its base URL.
async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

fn envelope(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({"error": {"code": code, "message": message, "details": {}}, "request_id": "r1"});
    (status, Json(body)).into_response()
}

fn log_line(n: u32, stream: &str, text: &str) -> Value {
    json!({"instance": "0123456789abcdef", "stream": stream, "ts": format!("2026-01-01T00:00:0{n}Z"), "line": text})
}

#[test]
fn help_lists_the_commands_and_the_server_flags() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("help");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "deploy",
        "invoke",
        "logs",
        "ls",
        "get",
        "revisions",
        "undeploy",
        "rm",
        "completions",
        "--listen",
        "--db",
        "--admin-token",
    ] {
        assert!(text.contains(word), "--help lacks {word}:\n{text}");
    }
    let deploy = std::process::Command::new(BIN)
        .args(["deploy", "--help"])
        .output()
        .expect("deploy help");
    let text = String::from_utf8_lossy(&deploy.stdout);
    for word in [
        "--keep-paused",
        "--env",
        "FAAS_URL",
        "FAAS_NAMESPACE",
        "faas.json",
    ] {
        assert!(text.contains(word), "deploy --help lacks {word}:\n{text}");
    }
}

#[tokio::test]
async fn completions_cover_the_commands_and_their_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let run = run_cli("http://127.0.0.1:1", &["completions", shell], None).await;
        let script = run.ok();
        assert!(
            script.contains("deploy") && script.contains("keep-paused"),
            "{shell}: {script}"
        );
    }
}

#[tokio::test]
async fn usage_errors_exit_2_and_an_absent_gateway_exits_3() {
    let missing = run_cli("http://127.0.0.1:1", &["deploy", "/nonexistent/fn"], None).await;
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(
        missing
            .stderr
            .contains("error: cannot read /nonexistent/fn"),
        "{missing:#?}"
    );
    let mixed = run_cli(
        "http://127.0.0.1:1",
        &["--listen", "127.0.0.1:9", "ls"],
        None,
    )
    .await;
    assert_eq!(
        mixed.code, 2,
        "server flags and a command do not mix: {mixed:#?}"
    );
    let bad_url = run_cli("ftp://x", &["ls"], None).await;
    assert_eq!(bad_url.code, 2, "{bad_url:#?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let gone = run_cli(&url, &["ls"], None).await;
    assert_eq!(gone.code, 3, "{gone:#?}");
    assert!(
        gone.stderr
            .contains(&format!("error: cannot reach the gateway at {url}")),
        "{gone:#?}"
    );
}

#[tokio::test]
async fn deploy_sends_the_folder_with_its_settings_and_namespace() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/callback/deploy",
            post(
                |State(seen): State<Seen>, RawQuery(q): RawQuery, headers: HeaderMap, Json(body): Json<Value>| async move {
                    seen.push(format!("/callback/deploy?{}", q.unwrap_or_default()), &headers, body.clone());
                    let cb = json!({"path": body["path"], "revision": 1, "state": "building", "url": format!("/api/{}", body["path"].as_str().unwrap_or_default())});
                    (StatusCode::ACCEPTED, Json(cb))
                },
            ),
        )
        .with_state(seen.clone());
    let url = serve(router).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("Image Resizer");
    write_tree(
        &dir,
        &[
            ("handler.js", "exports.handle = async () => 'ok';\n"),
            ("package.json", "{\"dependencies\": {}}\n"),
            ("lib/size.js", "module.exports = 1;\n"),
            ("node_modules/left-pad/index.js", "module.exports = 0;\n"),
            (".npmrc", "token=secret\n"),
            ("faas.json", r#"{"max_instances": 3, "env": {"A": "file"}}"#),
        ],
    );
    let mut cmd = cli_command(
        &url,
        &[
            "deploy",
            &dir.to_string_lossy(),
            "--no-wait",
            "--env",
            "B=flag",
            "--min",
            "1",
        ],
    );
    cmd.env("FAAS_NAMESPACE", "team-a")
        .env("FAAS_ADMIN_TOKEN", "adm");
    let out = cmd.output().await.expect("deploy");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{url}/api/image-resizer")),
        "{stdout}"
    );

    let requests = seen.all();
    assert_eq!(requests.len(), 1, "--no-wait sends the deploy only");
    let (uri, auth, body) = &requests[0];
    assert_eq!(uri, "/callback/deploy?wait=false");
    assert_eq!(auth.as_deref(), Some("Bearer adm"));
    assert_eq!(body["path"], "image-resizer");
    assert_eq!(body["runtime"], "node");
    assert_eq!(body["namespace"], "team-a");
    assert_eq!(body["max_instances"], 3);
    assert_eq!(body["min_instances"], 1);
    assert_eq!(body["env"], json!({"A": "file", "B": "flag"}));
    let files: Vec<&str> = body["files"]
        .as_object()
        .expect("files")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(files, ["handler.js", "lib/size.js", "package.json"]);
}

#[tokio::test]
async fn tokens_are_sent_and_errors_print_code_or_status() {
    let router = Router::new()
        .route(
            "/callbacks",
            get(|headers: HeaderMap| async move {
                match headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                {
                    Some("Bearer adm") => Json(json!({"callbacks": []})).into_response(),
                    _ => envelope(
                        StatusCode::UNAUTHORIZED,
                        "UNAUTHORIZED",
                        "a bearer token is required",
                    ),
                }
            }),
        )
        .route(
            "/api/{path}",
            any(|Path(path): Path<String>, headers: HeaderMap| async move {
                let auth = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                match path.as_str() {
                    "teapot" => (StatusCode::IM_A_TEAPOT, "short and stout").into_response(),
                    "proxy" => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
                    _ => auth.into_response(),
                }
            }),
        );
    let url = serve(router).await;

    let denied = run_cli(&url, &["ls", "--json"], None).await;
    denied.failed_with(1, "UNAUTHORIZED");
    let mut cmd = cli_command(&url, &["ls", "--json"]);
    cmd.env("FAAS_ADMIN_TOKEN", "adm");
    let out = cmd.output().await.expect("ls");
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc, json!({"callbacks": []}));

    let mut cmd = cli_command(&url, &["invoke", "hello"]);
    cmd.env("FAAS_INVOKE_TOKEN", "inv")
        .env("FAAS_ADMIN_TOKEN", "adm");
    let out = cmd.output().await.expect("invoke");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Bearer inv",
        "the invoke token, not the admin one"
    );

    let teapot = run_cli(&url, &["invoke", "teapot"], None).await;
    assert_eq!(teapot.code, 1, "{teapot:#?}");
    assert_eq!(
        teapot.stdout, "short and stout",
        "the function's own body is printed"
    );
    assert!(
        teapot.stderr.contains("error: the function answered 418"),
        "{teapot:#?}"
    );
    let proxy = run_cli(&url, &["invoke", "proxy", "-i"], None).await;
    assert_eq!(proxy.code, 1, "{proxy:#?}");
    assert!(
        proxy.stdout.starts_with("HTTP 502 Bad Gateway\n"),
        "{proxy:#?}"
    );
    assert!(proxy.stdout.ends_with("\n\nupstream down"), "{proxy:#?}");
    let not_contract = run_cli(&url, &["get", "x"], None).await;
    assert_eq!(not_contract.code, 1, "{not_contract:#?}");
    assert!(
        not_contract
            .stderr
            .contains("error: the gateway answered 404 Not Found"),
        "an answer that is not the envelope keeps its status: {not_contract:#?}"
    );
}

#[tokio::test]
async fn follow_prints_a_streamed_ndjson_body_as_it_comes() {
    let seen = Seen::default();
    let router = Router::new()
        .route(
            "/callbacks/{path}/logs",
            get(
                |State(seen): State<Seen>,
                 Path(path): Path<String>,
                 RawQuery(q): RawQuery,
                 headers: HeaderMap| async move {
                    seen.push(
                        format!("{path}?{}", q.unwrap_or_default()),
                        &headers,
                        Value::Null,
                    );
                    let text = format!(
                        "{}\n{}\n",
                        log_line(1, "stdout", "first"),
                        log_line(2, "stderr", "second")
                    );
                    // Split inside a line: the client must join chunks.
                    let (a, b) = text.split_at(30);
                    let chunks = vec![
                        Ok::<_, std::convert::Infallible>(a.to_owned()),
                        Ok(b.to_owned()),
                    ];
                    Response::builder()
                        .header(header::CONTENT_TYPE, "application/x-ndjson")
                        .body(Body::from_stream(futures::stream::iter(chunks)))
                        .expect("response")
                },
            ),
        )
        .with_state(seen.clone());
    let url = serve(router).await;
    let run = run_cli(&url, &["logs", "hello", "--follow", "--tail", "2"], None).await;
    assert_eq!(
        run.ok(),
        "2026-01-01T00:00:01Z  0123456789ab  stdout  first\n\
         2026-01-01T00:00:02Z  0123456789ab  stderr  second\n"
    );
    assert_eq!(seen.all()[0].0, "hello?tail=2&follow=true");
    let json = run_cli(&url, &["logs", "hello", "--follow", "--json"], None).await;
    let objects: Vec<Value> = json
        .ok()
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(
        objects,
        [
            log_line(1, "stdout", "first"),
            log_line(2, "stderr", "second")
        ]
    );
}

#[tokio::test]
async fn follow_polls_a_gateway_that_answers_json_and_prints_each_line_once() {
    let calls = Arc::new(Mutex::new(0u32));
    let router = Router::new()
        .route(
            "/callbacks/{path}/logs",
            get(|State(calls): State<Arc<Mutex<u32>>>| async move {
                let n = {
                    let mut c = calls.lock().expect("calls");
                    *c += 1;
                    *c
                };
                let mut lines = vec![
                    log_line(1, "stdout", "first"),
                    log_line(2, "stdout", "second"),
                ];
                if n >= 3 {
                    lines.push(log_line(3, "stdout", "third"));
                }
                Json(json!({ "lines": lines }))
            }),
        )
        .with_state(calls);
    let url = serve(router).await;
    let mut child = cli_command(&url, &["logs", "hello", "--follow"])
        .spawn()
        .expect("spawn");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    let collect = async {
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.ends_with("third");
            printed.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), collect)
        .await
        .expect("the third line within 60 s");
    let _ = child.kill().await;
    let texts: Vec<&str> = printed
        .iter()
        .map(|l| l.rsplit("  ").next().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["first", "second", "third"], "{printed:#?}");
}
