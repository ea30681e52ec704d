"""faas-gateway Python runtime: runs one user handler as an HTTP service, a job or a check.

Standard library only (the image must build with no package registry reachable).

Modes (FAAS_MODE):
  service (default)  import the handler, then serve HTTP on 0.0.0.0:$PORT
  job                call the handler once with the event from FAAS_EVENT / FAAS_EVENT_FILE and
                     print a JSON response document as the last line of stdout
  check              import the handler and resolve the function, print nothing, exit 0 or 1
"""

import asyncio
import base64
import binascii
import importlib
import inspect
import json
import socket
import os
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

DEPS_DIR = "/opt/faas/deps"  # where the Dockerfile pip-installs requirements.txt
HEALTH_PATH = "/_/health"
HOSTNAME = socket.gethostname()
DEADLINE_HEADER = "x-faas-deadline-ms"  # internal, never shown to the handler
KEEPALIVE_TIMEOUT_S = 75  # idle keep-alive connections are dropped after this (> 65 s, like Node)
TERMINATION_LOG = "/dev/termination-log"


def env_int(name, default):
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


CODE_DIR = os.path.abspath(os.environ.get("FAAS_CODE_DIR") or "/app")  # before any chdir
HANDLER = os.environ.get("FAAS_HANDLER") or "handler.handle"
FUNCTION = os.environ.get("FAAS_FUNCTION", "")
REVISION = env_int("FAAS_REVISION", 0)
MEMORY_MB = env_int("FAAS_MEMORY_MB", 0)
TIMEOUT_MS = env_int("FAAS_TIMEOUT_MS", 30000)


def hard_exit(code):
    """Flush and exit now: non-daemon threads a handler left behind must not keep us alive."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


class FunctionError(Exception):
    """The return value could not be turned into a response (a FUNCTION_ERROR, not a crash)."""


# ---------------------------------------------------------------------------------------------
# Handler loading


def load_handler():
    """Imports `module.function` from CODE_DIR; exceptions propagate to the caller."""
    module_name, _, func_name = HANDLER.rpartition(".")
    if not module_name or not func_name:
        raise ValueError(f"FAAS_HANDLER must be module.function, got {HANDLER!r}")
    # The runtime's own directory must not shadow user modules (a user `server.py` would
    # otherwise import this file), so the code dir replaces it at the front of sys.path.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path.insert(0, CODE_DIR)
    if os.path.isdir(DEPS_DIR) and DEPS_DIR not in sys.path:
        sys.path.insert(1, DEPS_DIR)
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if func is None:
        raise AttributeError(f"module {module_name!r} has no function {func_name!r} "
                             f"(FAAS_HANDLER={HANDLER})")
    if not callable(func):
        raise TypeError(f"{module_name}.{func_name} is not callable")
    return func


def make_context(request_id, deadline_ms):
    if deadline_ms is None:
        deadline_ms = int(time.time() * 1000) + TIMEOUT_MS
    return {"request_id": request_id, "function": FUNCTION, "revision": REVISION,
            "deadline_ms": deadline_ms, "memory_mb": MEMORY_MB}


def parse_int(value):
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Return value -> (status, [(header, value)], body bytes, is_binary); shared by service and job mode


def to_json(value):
    # allow_nan=False: NaN/Infinity are not JSON, so they count as unserialisable.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def header_value(name, value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FunctionError(f"header {name!r} must be a string or a list of strings")
    value = str(value)
    # CR/LF would let a handler inject headers or split the response.
    if "\r" in value or "\n" in value or "\0" in value:
        raise FunctionError(f"header {name!r} contains a control character")
    return value


def build_response(result):
    if isinstance(result, dict) and "statusCode" in result:
        status = result["statusCode"]
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise FunctionError(f"statusCode must be an integer from 200 to 599, got {status!r}")
        headers = []
        raw_headers = result.get("headers") or {}
        if not isinstance(raw_headers, dict):
            raise FunctionError("headers must be a dict")
        for name, value in raw_headers.items():
            if not isinstance(name, str) or not name or any(c in name for c in " \t\r\n:\0"):
                raise FunctionError(f"invalid header name {name!r}")
            if name.lower() in ("content-length", "transfer-encoding"):
                continue  # framing is ours: we always send an exact Content-Length
            for v in value if isinstance(value, (list, tuple)) else [value]:
                headers.append((name, header_value(name, v)))
        body = result.get("body")
        if result.get("is_base64"):
            if not isinstance(body, str):
                raise FunctionError("is_base64 is set but body is not a string")
            try:
                data = base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError) as e:
                raise FunctionError(f"body is not valid base64: {e}") from None
            default_type = "application/octet-stream"
        elif body is None:
            data, default_type = b"", "text/plain; charset=utf-8"
        elif isinstance(body, str):
            data, default_type = body.encode("utf-8"), "text/plain; charset=utf-8"
        elif isinstance(body, (bytes, bytearray)):
            data, default_type = bytes(body), "application/octet-stream"
        else:
            data, default_type = to_json(body), "application/json"
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", default_type))
        return status, headers, data, default_type == "application/octet-stream"
    if isinstance(result, str):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], result.encode("utf-8"), False
    if isinstance(result, (bytes, bytearray, memoryview)):
        return 200, [("Content-Type", "application/octet-stream")], bytes(result), True
    return 200, [("Content-Type", "application/json")], to_json(result), False


def error_message(exc):
    return f"{type(exc).__name__}: {exc}"


def error_response(exc):
    body = to_json({"error": {"code": "FUNCTION_ERROR", "message": error_message(exc)}})
    return (500, [("Content-Type", "application/json"), ("X-Faas-Error", "FUNCTION_ERROR")],
            body, False)


# ---------------------------------------------------------------------------------------------
# Service mode


class AsyncRunner:
    """One event loop in its own thread, shared by every request, so that `async def` handlers
    run concurrently with each other (a loop per request would serialise nothing but cost a lot,
    and would break handlers that keep loop-bound clients in module globals)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="faas-asyncio", daemon=True).start()

    def run(self, awaitable):
        async def wrap():  # run_coroutine_threadsafe wants a coroutine, not any awaitable
            return await awaitable
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    timeout = KEEPALIVE_TIMEOUT_S
    func = None
    runner = None

    def log_message(self, format, *args):
        pass  # stdout/stderr are the function's logs: no per-request access log

    def __getattr__(self, name):
        # BaseHTTPRequestHandler dispatches to do_<METHOD>; every method goes to the handler.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def send(self, status, headers, body, _binary=False):  # _binary matters to job mode only
        # Status line, headers and body go out in ONE write: separate writes for headers and
        # body stall ~40 ms per keep-alive request (Nagle + delayed ACK).
        lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
                 f"Date: {self.date_time_string()}"]
        lines += [f"{name}: {value}" for name, value in headers]
        no_body = status in (204, 304)
        if not no_body:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        if self.command == "HEAD" or no_body:
            body = b""
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True  # client went away

    def bad_request(self, message):
        self.close_connection = True
        self.send(400, [("Content-Type", "text/plain; charset=utf-8")], message.encode())

    def read_body(self):
        """The request body, de-chunked; None (after a 400) if the framing is broken."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # http.server leaves chunked decoding to us; the gateway streams bodies this way.
            chunks = []
            try:
                while True:
                    line = self.rfile.readline(65537)
                    size = int(line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        break
                    chunks.append(self.rfile.read(size))
                    if self.rfile.read(2) != b"\r\n":
                        raise ValueError("missing CRLF after chunk")
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers: ignored
            except ValueError:
                self.bad_request("malformed chunked body")
                return None
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
            if n < 0:
                raise ValueError
        except ValueError:
            self.bad_request("invalid Content-Length")
            return None
        data = self.rfile.read(n)
        if len(data) != n:
            self.close_connection = True
            return None  # client hung up mid-body: nobody to answer
        return data

    def dispatch(self):
        path, _, raw_query = self.path.partition("?")
        if path == HEALTH_PATH and self.command == "GET":
            # The hostname is the container id (Docker) or pod name (Kubernetes): the gateway
            # checks it, so an address reused by another instance is never taken for this one.
            headers = [("Content-Type", "application/json"), ("X-Faas-Instance", HOSTNAME)]
            self.send(200, headers, b'{"status":"ok"}')
            return
        body = self.read_body()
        if body is None:
            return
        headers = {}
        for name, value in self.headers.items():
            name = name.lower()
            if name in headers:
                headers[name] += ("; " if name == "cookie" else ", ") + value
            else:
                headers[name] = value
        deadline = parse_int(headers.pop(DEADLINE_HEADER, None))
        query = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            if key not in query:
                query[key] = value
            elif isinstance(query[key], list):
                query[key].append(value)
            else:
                query[key] = [query[key], value]
        try:
            text, is_base64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
        event = {"method": self.command, "path": path, "query": query, "headers": headers,
                 "body": text, "is_base64": is_base64}
        context = make_context(headers.get("x-request-id", ""), deadline)
        try:
            result = self.func(event, context)
            if inspect.isawaitable(result):
                result = self.runner.run(result)
            response = build_response(result)
        except BaseException as exc:  # noqa: BLE001 - even SystemExit must not kill the worker
            traceback.print_exc()
            response = error_response(exc)
        self.send(*response)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # in-flight requests must not delay exit on SIGTERM
    request_queue_size = 128  # listen backlog (default 5 drops bursts)


def serve(func):
    Handler.func = staticmethod(func)  # a plain attribute would bind as a method
    Handler.runner = AsyncRunner()
    server = Server(("0.0.0.0", env_int("PORT", 8080)), Handler)

    def stop(signum, frame):
        hard_exit(0)  # SIGTERM must exit promptly: in-flight requests are cut short

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


# ---------------------------------------------------------------------------------------------
# Job and check modes


class TailTracker:
    """Wraps sys.stdout to remember whether the handler's output ended mid-line, so that the
    response document always starts on a line of its own."""

    def __init__(self, stream):
        self._stream = stream
        self.at_line_start = True

    def write(self, s):
        if s:
            self.at_line_start = s.endswith("\n")
        return self._stream.write(s)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def response_document(status, headers, body, binary):
    # {name: value} with string values: lower-case names, a repeated header joined with ", ".
    doc_headers = {}
    for name, value in headers:
        name = name.lower()
        doc_headers[name] = doc_headers[name] + ", " + value if name in doc_headers else value
    if binary:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    else:
        text, is_base64 = body.decode("utf-8"), False
    return {"statusCode": status, "headers": doc_headers, "body": text, "is_base64": is_base64}


def finish_job(stdout, response, code):
    # ASCII-only JSON: the line survives any stdout encoding or locale.
    line = json.dumps(response_document(*response), separators=(",", ":"))
    if os.path.exists(TERMINATION_LOG):
        try:
            with open(TERMINATION_LOG, "w", encoding="utf-8") as f:
                f.write(line)
        except OSError:
            pass
    if not stdout.at_line_start:
        stdout.write("\n")
    stdout.write(line + "\n")
    hard_exit(code)


def run_job():
    stdout = sys.stdout = TailTracker(sys.stdout)
    try:
        func = load_handler()
        if "FAAS_EVENT" in os.environ:
            event = json.loads(os.environ["FAAS_EVENT"])
        elif os.environ.get("FAAS_EVENT_FILE"):
            with open(os.environ["FAAS_EVENT_FILE"], encoding="utf-8") as f:
                event = json.load(f)
        else:
            event = {}
        context = make_context(os.environ.get("FAAS_REQUEST_ID", ""),
                               parse_int(os.environ.get("FAAS_DEADLINE_MS")))
        result = func(event, context)
        if inspect.isawaitable(result):
            async def wrap():
                return await result
            result = asyncio.run(wrap())
        response = build_response(result)
    except BaseException as exc:  # noqa: BLE001
        traceback.print_exc()
        finish_job(stdout, error_response(exc), 1)
    finish_job(stdout, response, 0)


def exit_code_of(exc):
    """The process exit code `sys.exit(code)` asks for: an int as is, None 0, anything else 1
    (after printing it, as the interpreter does)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def main():
    mode = os.environ.get("FAAS_MODE") or "service"
    if mode not in ("service", "job", "check"):
        print(f"unknown FAAS_MODE {mode!r} (expected service, job or check)", file=sys.stderr)
        sys.exit(2)
    try:
        os.chdir(CODE_DIR)  # relative paths in user code resolve against its own files
    except OSError:
        pass
    if mode == "job":
        run_job()
        return
    real_stdout = sys.stdout
    if mode == "check":
        sys.stdout = sys.stderr  # check prints nothing on stdout, even if the module does
    try:
        func = load_handler()
    except SystemExit as exc:
        # `sys.exit(7)` at import: the function's own exit code is what the gateway reports.
        traceback.print_exc()
        hard_exit(exit_code_of(exc))
    except BaseException:  # noqa: BLE001 - syntax errors, import errors, ...
        traceback.print_exc()
        hard_exit(1)
    sys.stdout = real_stdout
    if mode == "check":
        hard_exit(0)
    serve(func)


if __name__ == "__main__":
    main()
