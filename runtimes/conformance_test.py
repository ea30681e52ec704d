#!/usr/bin/env python3
"""Conformance tests for the faas-gateway runtimes (runtimes/python and runtimes/node).

Standard library only. Starts each runtime server on the host (python3 / node) against the
fixture handlers in runtimes/testdata/, talks to it over real HTTP, and runs job and check mode
as subprocesses.

    python3 runtimes/conformance_test.py            # all runtimes
    python3 runtimes/conformance_test.py -v -k Node  # unittest options work

Exits non-zero on failure. A runtime whose interpreter is not installed is skipped (loudly).
"""

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "testdata", "app")
BROKEN = os.path.join(HERE, "testdata", "broken")

FUNCTION = "conformance-fn"
REVISION = 7
MEMORY_MB = 256
TIMEOUT_MS = 30000
ERROR_HEADERS = {"content-type": "application/json", "x-faas-error": "FUNCTION_ERROR"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def runtime_env(code_dir, handler, **extra):
    """A clean environment: nothing FAAS_* leaks in from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAAS_") and k != "PORT"}
    env.update({
        "FAAS_CODE_DIR": code_dir, "FAAS_HANDLER": handler, "FAAS_FUNCTION": FUNCTION,
        "FAAS_REVISION": str(REVISION), "FAAS_MEMORY_MB": str(MEMORY_MB),
        "FAAS_TIMEOUT_MS": str(TIMEOUT_MS),
        "PYTHONDONTWRITEBYTECODE": "1",  # keep __pycache__ out of testdata/
    })
    env.update(extra)
    return env


class ServerProcess:
    """One runtime server in service mode, with its stderr captured in a file."""

    def __init__(self, cmd, code_dir=APP, handler="handler.handle", **extra_env):
        self.port = free_port()
        fd, self.stderr_path = tempfile.mkstemp(prefix="faas-conformance-", suffix=".stderr")
        env = runtime_env(code_dir, handler, PORT=str(self.port), **extra_env)
        # The child writes through its own descriptor; we read the file by name, so our reads
        # never move its write offset.
        with os.fdopen(fd, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)

    def stderr(self):
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/_/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"server not ready after {timeout}s:\n{self.stderr()}")

    def stop(self):
        """SIGTERM, and how long the server took to exit (killed after 5 s)."""
        start = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elapsed = time.monotonic() - start
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass
        return elapsed


class Response:
    def __init__(self, resp, data):
        self.status = resp.status
        self.msg = resp.msg
        self.data = data

    def header(self, name):
        return self.msg.get(name)

    def json(self):
        return json.loads(self.data)


def do_request(port, method, path, body=None, headers=(), chunks=None, conn=None):
    """One request; `headers` is a list of pairs so that names can repeat. `chunks` sends the
    body with Transfer-Encoding: chunked."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if chunks is not None:
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for chunk in chunks:
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        elif body is not None:
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
        else:
            conn.endheaders()
        resp = conn.getresponse()
        return Response(resp, resp.read())
    finally:
        if own:
            conn.close()


class Conformance:
    """The runtime-independent checks; subclasses name the command and language specifics."""

    cmd = None
    error_message = None  # what /error raises, as "<Type>: boom"
    async_error_message = None

    @classmethod
    def setUpClass(cls):
        if not shutil.which(cls.cmd[0]):
            raise unittest.SkipTest(f"{cls.cmd[0]} is not installed")
        cls.server = ServerProcess(cls.cmd).wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    # --- helpers ----------------------------------------------------------------------------

    def request(self, method, path, **kw):
        return do_request(self.server.port, method, path, **kw)

    def echo(self, method="GET", path="/echo", **kw):
        r = self.request(method, path, **kw)
        self.assertEqual(r.status, 200, r.data)
        self.assertEqual(r.header("Content-Type"), "application/json")
        doc = r.json()
        return doc["event"], doc["context"]

    def start(self, handler, code_dir=APP, **env):
        server = ServerProcess(self.cmd, code_dir, handler, **env).wait_ready()
        self.addCleanup(server.stop)
        return server

    def run_mode(self, mode, handler, code_dir=APP, **env):
        env = runtime_env(code_dir, handler, FAAS_MODE=mode, **env)
        return subprocess.run(self.cmd, env=env, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)

    def run_job(self, event=None, handler="handler.handle", **env):
        if event is not None:
            env["FAAS_EVENT"] = json.dumps(event)
        p = self.run_mode("job", handler, **env)
        lines = p.stdout.splitlines()
        self.assertTrue(lines, f"no stdout; stderr:\n{p.stderr}")
        return p, json.loads(lines[-1])

    def assert_function_error(self, r, message_prefix):
        self.assertEqual(r.status, 500, r.data)
        self.assertEqual(r.header("X-Faas-Error"), "FUNCTION_ERROR")
        self.assertEqual(r.header("Content-Type"), "application/json")
        err = r.json()["error"]
        self.assertEqual(err["code"], "FUNCTION_ERROR")
        self.assertTrue(err["message"].startswith(message_prefix), err["message"])
        return err["message"]

    # --- health and event -------------------------------------------------------------------

    def test_health(self):
        r = self.request("GET", "/_/health")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"status": "ok"})
        self.assertEqual(r.header("Content-Length"), str(len(r.data)))

    def test_methods(self):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
            with self.subTest(method=method):
                event, _ = self.echo(method)
                self.assertEqual(event["method"], method)

    def test_head(self):
        r = self.request("HEAD", "/echo")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-event-method"), "HEAD")
        self.assertEqual(r.data, b"")
        self.assertGreater(int(r.header("Content-Length")), 0)  # length of the unsent body

    def test_event_keys(self):
        event, context = self.echo()
        self.assertEqual(set(event), {"method", "path", "query", "headers", "body", "is_base64"})
        self.assertEqual(set(context),
                         {"request_id", "function", "revision", "deadline_ms", "memory_mb"})

    def test_path_and_query(self):
        r = self.request("GET", "/some/deep/a%20b?a=1&b=2&b=3&b=&c=&d&e=x%20y+z&f=%C3%A9")
        self.assertEqual(r.json(), {"unknown_path": "/some/deep/a%20b"})
        event, _ = self.echo(path="/echo?a=1&b=2&b=3&b=&c=&d&e=x%20y+z&f=%C3%A9")
        self.assertEqual(event["path"], "/echo")
        self.assertEqual(event["query"], {"a": "1", "b": ["2", "3", ""], "c": "", "d": "",
                                          "e": "x y z", "f": "é"})
        event, _ = self.echo()
        self.assertEqual(event["query"], {})

    def test_headers(self):
        event, _ = self.echo(headers=[
            ("X-Custom-Thing", "v1"), ("X-Multi", "a"), ("X-Multi", "b"),
            ("User-Agent", "ua1"), ("User-Agent", "ua2"),
            ("Cookie", "a=1"), ("Cookie", "b=2; c=3"),
        ])
        h = event["headers"]
        self.assertTrue(all(name == name.lower() for name in h), h)
        self.assertEqual(h["x-custom-thing"], "v1")
        self.assertEqual(h["x-multi"], "a, b")
        self.assertEqual(h["user-agent"], "ua1, ua2")
        self.assertEqual(h["cookie"], "a=1; b=2; c=3")
        self.assertIn("host", h)

    def test_deadline_header(self):
        event, context = self.echo(headers=[("X-Faas-Deadline-Ms", "1893456000123"),
                                            ("X-Request-Id", "req-abc")])
        self.assertNotIn("x-faas-deadline-ms", event["headers"])
        self.assertEqual(context["deadline_ms"], 1893456000123)
        self.assertEqual(event["headers"]["x-request-id"], "req-abc")

    def test_utf8_body(self):
        text = "héllo ✓ wörld 🚀"
        event, _ = self.echo("POST", body=text.encode(),
                             headers=[("Content-Type", "application/octet-stream")])
        self.assertEqual(event["body"], text)
        self.assertIs(event["is_base64"], False)

    def test_empty_body(self):
        for method in ("GET", "POST"):
            event, _ = self.echo(method, body=b"" if method == "POST" else None)
            self.assertEqual(event["body"], "")
            self.assertIs(event["is_base64"], False)

    def test_binary_body_is_base64(self):
        data = b"\xff\xfe\x00binary\x80"
        event, _ = self.echo("PUT", body=data, headers=[("Content-Type", "text/plain")])
        self.assertIs(event["is_base64"], True)
        self.assertEqual(base64.b64decode(event["body"]), data)

    def test_large_body(self):
        data = os.urandom(1 << 20)
        event, _ = self.echo("POST", body=data)
        self.assertEqual(base64.b64decode(event["body"]), data)

    def test_chunked_body(self):
        # A multi-byte character split across chunks must still decode as UTF-8.
        text = "chunked ✓ body"
        raw = text.encode()
        cut = raw.index("✓".encode()) + 1
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:
            r = do_request(None, "POST", "/echo", chunks=[raw[:cut], raw[cut:]], conn=conn)
            event = r.json()["event"]
            self.assertEqual(event["body"], text)
            self.assertIs(event["is_base64"], False)
            # Binary, many chunks, on the same connection: the chunked framing (terminator
            # included) was consumed exactly.
            data = os.urandom(300_000)
            chunks = [data[i:i + 7777] for i in range(0, len(data), 7777)]
            r = do_request(None, "POST", "/echo", chunks=chunks, conn=conn)
            event = r.json()["event"]
            self.assertIs(event["is_base64"], True)
            self.assertEqual(base64.b64decode(event["body"]), data)
            r = do_request(None, "POST", "/echo", chunks=[], conn=conn)
            self.assertEqual(r.json()["event"]["body"], "")
            r = do_request(None, "GET", "/ret/str", conn=conn)
            self.assertEqual(r.status, 200)
        finally:
            conn.close()

    # --- context ----------------------------------------------------------------------------

    def test_context(self):
        _, context = self.echo(headers=[("X-Request-Id", "req-123"),
                                        ("X-Faas-Deadline-Ms", "1700000000000")])
        self.assertEqual(context, {"request_id": "req-123", "function": FUNCTION,
                                   "revision": REVISION, "deadline_ms": 1700000000000,
                                   "memory_mb": MEMORY_MB})
        for key in ("revision", "deadline_ms", "memory_mb"):
            self.assertIs(type(context[key]), int, key)

    def test_context_defaults(self):
        before = int(time.time() * 1000)
        _, context = self.echo()
        after = int(time.time() * 1000)
        self.assertEqual(context["request_id"], "")
        self.assertGreaterEqual(context["deadline_ms"], before + TIMEOUT_MS - 1000)
        self.assertLessEqual(context["deadline_ms"], after + TIMEOUT_MS + 1000)

    # --- return conventions -----------------------------------------------------------------

    def check_return(self, path, content_type, data):
        r = self.request("GET", path)
        self.assertEqual(r.status, 200, r.data)
        self.assertEqual(r.header("Content-Type"), content_type)
        self.assertEqual(r.header("Content-Length"), str(len(r.data)))
        if content_type == "application/json":
            self.assertEqual(r.json(), data)
        else:
            self.assertEqual(r.data, data)

    def test_return_str(self):
        self.check_return("/ret/str", "text/plain; charset=utf-8", "hello ✓".encode())

    def test_return_bytes(self):
        self.check_return("/ret/bytes", "application/octet-stream", b"\x00\x01\xffbinary")
        self.check_return("/ret/bytearray", "application/octet-stream", b"\xfe\xff")

    def test_return_json(self):
        self.check_return("/ret/dict", "application/json", {"a": 1, "b": [True, None]})
        self.check_return("/ret/list", "application/json", [1, "two", 3.5])
        self.check_return("/ret/number", "application/json", 42)
        self.check_return("/ret/bool", "application/json", True)
        self.check_return("/ret/none", "application/json", None)

    def test_status_with_headers(self):
        r = self.request("GET", "/status")
        self.assertEqual(r.status, 201)
        self.assertEqual(r.data, b"created")
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.msg.get_all("X-Single"), ["one"])
        self.assertEqual(r.msg.get_all("X-Multi"), ["a", "b"])
        self.assertEqual(r.msg.get_all("Set-Cookie"), ["c=1", "d=2"])

    def test_status_content_type(self):
        r = self.request("GET", "/status/content-type")
        self.assertEqual((r.status, r.data), (202, b"a,b\n"))
        self.assertEqual(r.msg.get_all("Content-Type"), ["text/csv"])

    def test_status_no_content(self):
        r = self.request("GET", "/status/empty")
        self.assertEqual((r.status, r.data), (204, b""))
        self.assertEqual(self.request("GET", "/ret/str").status, 200)

    def test_status_json_body(self):
        r = self.request("GET", "/status/json")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.json(), {"missing": True})

    def test_status_base64_body(self):
        r = self.request("GET", "/status/base64")
        self.assertEqual((r.status, r.data), (200, b"\x89PNG\x00\xff"))
        self.assertEqual(r.header("Content-Type"), "application/octet-stream")
        r = self.request("GET", "/status/base64-typed")
        self.assertEqual((r.data, r.header("Content-Type")), (b"\x89PNG", "image/png"))

    # --- errors -----------------------------------------------------------------------------

    def test_function_error(self):
        r = self.request("POST", "/error", body=b"x")
        message = self.assert_function_error(r, self.error_message)
        self.assertEqual(message, self.error_message)
        self.assertEqual(r.json(), {"error": {"code": "FUNCTION_ERROR", "message": message}})
        # The server keeps serving, and the stack went to stderr.
        self.assertEqual(self.request("GET", "/_/health").status, 200)
        self.assertEqual(self.request("GET", "/ret/str").data, "hello ✓".encode())
        self.assertIn("boom", self.server.stderr())
        self.assertIn(self.stack_marker, self.server.stderr())

    def test_unserialisable_return(self):
        self.assert_function_error(self.request("GET", "/error/unserialisable"), "TypeError: ")
        self.assertEqual(self.request("GET", "/ret/none").status, 200)

    def test_invalid_response(self):
        for path in ("/error/bad-status", "/error/bad-header"):
            with self.subTest(path=path):
                r = self.request("GET", path)
                self.assert_function_error(r, "")
                self.assertIsNone(r.header("Injected"))

    # --- concurrency and keep-alive ---------------------------------------------------------

    def concurrent(self, port, path, n=2):
        results = [None] * n
        barrier = threading.Barrier(n)

        def call(i):
            barrier.wait()
            results[i] = do_request(port, "GET", path)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return results, time.monotonic() - start

    def test_async_handler_concurrency(self):
        server = self.start("aio.handle")
        # Two calls of a handler that sleeps 0.5 s: about 0.5 s together, 1 s if serialised.
        results, elapsed = self.concurrent(server.port, "/x")
        for r in results:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json(), {"async": True, "path": "/x", "request_id": ""})
        self.assertLess(elapsed, 0.9, "async handlers did not run concurrently")
        r = do_request(server.port, "GET", "/error")
        self.assert_function_error(r, self.async_error_message)
        self.assertEqual(do_request(server.port, "GET", "/_/health").status, 200)

    def test_keepalive_sequential_requests(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
        try:
            sock = None
            for i in range(200):
                if i % 2:
                    r = do_request(None, "GET", f"/ret/str?i={i}", conn=conn)
                    self.assertEqual(r.data, "hello ✓".encode())
                else:
                    r = do_request(None, "POST", "/ret/number", body=b"x" * i, conn=conn)
                    self.assertEqual(r.data, b"42")
                self.assertEqual(r.status, 200)
                self.assertNotEqual((r.header("Connection") or "").lower(), "close")
                if sock is None:
                    sock = conn.sock
                # http.client silently reconnects if the server closed: same socket object
                # all along means one connection served everything.
                self.assertIs(conn.sock, sock, f"connection was reopened at request {i}")
        finally:
            conn.close()

    # --- handler loading --------------------------------------------------------------------

    def test_nested_handler(self):
        server = self.start("pkg.mod.handle")
        r = do_request(server.port, "GET", "/anything")
        self.assertEqual(r.json(), {"nested": True, "module": "pkg.mod"})

    def check_start_failure(self, handler, *needles):
        server = ServerProcess(self.cmd, BROKEN, handler)
        try:
            rc = server.proc.wait(15)
        except subprocess.TimeoutExpired:
            server.stop()
            self.fail(f"{handler}: server did not exit")
        stderr = server.stderr()
        server.stop()
        self.assertNotEqual(rc, 0, stderr)
        for needle in needles:
            self.assertIn(needle, stderr)

    def test_import_failures(self):
        for handler, needles in self.start_failures.items():
            with self.subTest(handler=handler):
                self.check_start_failure(handler, *needles)

    def test_an_exit_at_import_keeps_the_functions_exit_code(self):
        server = ServerProcess(self.cmd, BROKEN, "exit_at_import.handle")
        try:
            rc = server.proc.wait(15)
        except subprocess.TimeoutExpired:
            server.stop()
            self.fail("the server did not exit")
        stderr = server.stderr()
        server.stop()
        self.assertEqual(rc, 7, stderr)

    # --- job mode ---------------------------------------------------------------------------

    def test_job_success(self):
        p, doc = self.run_job({"path": "/ret/str"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(doc, {"statusCode": 200,
                               "headers": {"content-type": "text/plain; charset=utf-8"},
                               "body": "hello ✓", "is_base64": False})
        self.assertTrue(p.stdout.endswith("\n"))

    def test_job_stdout_logs_before_document(self):
        p, doc = self.run_job({"path": "/print"})
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[:-1], ["log line 1", "partial line without newline"])
        self.assertEqual(doc["body"], "printed")

    def test_job_conversions(self):
        p, doc = self.run_job({"path": "/ret/bytes"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(doc["is_base64"], True)
        self.assertEqual(base64.b64decode(doc["body"]), b"\x00\x01\xffbinary")
        self.assertEqual(doc["headers"], {"content-type": "application/octet-stream"})
        _, doc = self.run_job({"path": "/ret/dict"})
        self.assertEqual(json.loads(doc["body"]), {"a": 1, "b": [True, None]})
        self.assertEqual(doc["headers"], {"content-type": "application/json"})
        _, doc = self.run_job({"path": "/status"})
        self.assertEqual(doc, {"statusCode": 201, "body": "created", "is_base64": False,
                               "headers": {"x-single": "one", "x-multi": "a, b",
                                           "set-cookie": "c=1, d=2",
                                           "content-type": "text/plain; charset=utf-8"}})
        _, doc = self.run_job({"path": "/status/base64"})
        self.assertEqual((doc["is_base64"], base64.b64decode(doc["body"])),
                         (True, b"\x89PNG\x00\xff"))

    def test_job_context(self):
        event = {"path": "/echo", "method": "POST", "body": "in"}
        p, doc = self.run_job(event, FAAS_REQUEST_ID="job-req-1", FAAS_DEADLINE_MS="1800000000000")
        self.assertEqual(p.returncode, 0, p.stderr)
        body = json.loads(doc["body"])
        self.assertEqual(body["event"], event)
        self.assertEqual(body["context"], {"request_id": "job-req-1", "function": FUNCTION,
                                           "revision": REVISION, "deadline_ms": 1800000000000,
                                           "memory_mb": MEMORY_MB})

    def test_job_event_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({"path": "/ret/list"}, f)
        self.addCleanup(os.unlink, f.name)
        p, doc = self.run_job(FAAS_EVENT_FILE=f.name)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(doc["body"]), [1, "two", 3.5])

    def test_job_async_handler(self):
        p, doc = self.run_job({"path": "/job"}, handler="aio.handle", FAAS_REQUEST_ID="r9")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(doc["body"]), {"async": True, "path": "/job",
                                                   "request_id": "r9"})

    def expected_error_doc(self, message):
        body = json.dumps({"error": {"code": "FUNCTION_ERROR", "message": message}},
                          separators=(",", ":"))
        return {"statusCode": 500, "headers": ERROR_HEADERS, "body": body, "is_base64": False}

    def test_job_exception(self):
        p, doc = self.run_job({"path": "/error"})
        self.assertEqual(p.returncode, 1)
        self.assertEqual(doc, self.expected_error_doc(self.error_message))
        self.assertIn(self.stack_marker, p.stderr)
        self.assertIn("boom", p.stderr)

    def test_job_import_failure(self):
        p = self.run_mode("job", "raise_at_import.handle", code_dir=BROKEN,
                          FAAS_EVENT="{}")
        self.assertEqual(p.returncode, 1)
        doc = json.loads(p.stdout.splitlines()[-1])
        self.assertEqual(doc["statusCode"], 500)
        self.assertEqual(doc["headers"], ERROR_HEADERS)
        self.assertIn("exploded at import", json.loads(doc["body"])["error"]["message"])
        self.assertIn("exploded at import", p.stderr)

    # --- check mode -------------------------------------------------------------------------

    def test_check_mode(self):
        for handler in ("handler.handle", "aio.handle", "pkg.mod.handle"):
            with self.subTest(handler=handler):
                p = self.run_mode("check", handler)
                self.assertEqual((p.returncode, p.stdout), (0, ""), p.stderr)
        for handler, needles in self.start_failures.items():
            with self.subTest(handler=handler):
                p = self.run_mode("check", handler, code_dir=BROKEN)
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertEqual(p.stdout, "")
                for needle in needles:
                    self.assertIn(needle, p.stderr)

    # --- lifecycle --------------------------------------------------------------------------

    def test_sigterm_exits_promptly(self):
        server = ServerProcess(self.cmd).wait_ready()
        # An idle keep-alive connection must not hold the process.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        do_request(None, "GET", "/ret/str", conn=conn)
        elapsed = server.stop()
        conn.close()
        self.assertLess(elapsed, 5, "server ignored SIGTERM")
        self.assertIsNotNone(server.proc.returncode)


class PythonRuntimeTest(Conformance, unittest.TestCase):
    cmd = [sys.executable, os.path.join(HERE, "python", "server.py")]
    error_message = "ValueError: boom"
    async_error_message = "KeyError: 'async-boom'"
    stack_marker = "Traceback (most recent call last)"
    start_failures = {
        "syntax_error.handle": ("Traceback", "SyntaxError"),
        "import_error.handle": ("Traceback", "ModuleNotFoundError",
                                "faas_conformance_no_such_module"),
        "raise_at_import.handle": ("Traceback", "RuntimeError: exploded at import"),
        "no_function.handle": ("Traceback", "AttributeError", "handle"),
        "no_function.handle_not_callable": ("Traceback", "handle_not_callable"),
        "no_such_module.handle": ("Traceback", "ModuleNotFoundError"),
    }

    def test_sync_handler_concurrency(self):
        # ThreadingHTTPServer: two blocking 0.5 s calls overlap.
        results, elapsed = self.concurrent(self.server.port, "/sleep")
        self.assertEqual([r.data for r in results], [b"slept", b"slept"])
        self.assertLess(elapsed, 0.9, "sync handlers did not run concurrently")


class NodeRuntimeTest(Conformance, unittest.TestCase):
    cmd = ["node", os.path.join(HERE, "node", "server.js")]
    error_message = "RangeError: boom"
    async_error_message = "Error: async-boom"
    stack_marker = "    at "
    start_failures = {
        "syntax_error.handle": ("syntax_error.js:3", "SyntaxError"),
        "import_error.handle": ("Cannot find module", "faas-conformance-no-such-module",
                                "    at "),
        "raise_at_import.handle": ("Error: exploded at import", "raise_at_import.js:2"),
        "no_function.handle": ("TypeError", "'handle'", "    at "),
        "no_function.handle_not_callable": ("TypeError", "handle_not_callable"),
        "no_such_module.handle": ("Cannot find module",),
    }

    def test_return_undefined(self):
        self.check_return("/ret/undefined", "application/json", None)

    def test_thrown_non_error(self):
        r = self.request("GET", "/error/string")
        self.assertEqual(self.assert_function_error(r, "Error: "), "Error: oops")
        r = self.request("GET", "/error/rejected")
        self.assertEqual(self.assert_function_error(r, "Error: "), "Error: rejected")
        self.assertEqual(self.request("GET", "/_/health").status, 200)


if __name__ == "__main__":
    unittest.main()
