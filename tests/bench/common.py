"""Shared pieces of the benchmarks: the gateway's API, the Docker API on its socket (no CLI in
the timed path), wrk runs and medians. Standard library only."""

import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import time
import urllib.parse
import uuid


def gateway_url():
    """FAAS_BASE_URL (or FAAS_URL), default http://127.0.0.1:8000."""
    return os.environ.get("FAAS_BASE_URL") or os.environ.get("FAAS_URL") or "http://127.0.0.1:8000"


class Gateway:
    """A running gateway, over its HTTP API."""

    def __init__(self, base):
        self.base = urllib.parse.urlsplit(base)
        self.token = os.environ.get("FAAS_ADMIN_TOKEN")
        self.invoke_token = os.environ.get("FAAS_INVOKE_TOKEN")

    def conn(self):
        return http.client.HTTPConnection(self.base.hostname, self.base.port or 80, timeout=600)

    def request(self, method, path, body=None, token=None):
        c = self.conn()
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        c.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode("utf-8", "replace")
        return r.status, dict(r.getheaders()), parsed

    def deploy(self, body):
        status, _, doc = self.request("POST", "/callback/deploy", body, self.token)
        if status not in (200, 201):
            raise SystemExit(f"deploy of {body['path']} answered {status}: {doc}")
        return doc

    def callback(self, path):
        return self.request("GET", f"/callbacks/{path}", token=self.token)[2]

    def delete(self, path):
        self.request("DELETE", f"/callbacks/{path}", token=self.token)

    def call(self, path, rest="/"):
        """One call on a fresh connection: (seconds, status, headers)."""
        c = self.conn()
        headers = {}
        if self.invoke_token:
            headers["authorization"] = f"Bearer {self.invoke_token}"
        t0 = time.perf_counter()
        c.request("GET", f"/api/{path}{rest}", headers=headers)
        r = c.getresponse()
        r.read()
        took = time.perf_counter() - t0
        c.close()
        return took, r.status, {k.lower(): v for k, v in r.getheaders()}

    def wait_for(self, path, what, done, limit_s=120):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            cb = self.callback(path)
            if done(cb):
                return cb
            time.sleep(0.1)
        raise SystemExit(f"{path}: {what} never happened: {self.callback(path)}")


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=120)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Docker:
    """The Docker Engine API on its local socket: what the floors are measured with."""

    def __init__(self, path="/var/run/docker.sock"):
        self.path = path

    def request(self, method, url, body=None):
        c = _UnixConnection(self.path)
        headers = {"content-type": "application/json"} if body is not None else {}
        c.request(method, url, body=json.dumps(body) if body is not None else None, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 400:
            raise RuntimeError(f"Docker {method} {url}: {r.status} {data[:300]!r}")
        return json.loads(data) if data else None

    def inspect(self, cid):
        return self.request("GET", f"/containers/{cid}/json")


def address_of(docker, container_id, network):
    """Where the container's runtime listens, as the gateway reaches it."""
    c = docker.inspect(container_id)
    nets = c["NetworkSettings"]["Networks"]
    ip = (nets.get(network) or next(iter(nets.values())))["IPAddress"]
    ports = (c["NetworkSettings"].get("Ports") or {}).get("8080/tcp")
    if ip:
        return ip, 8080
    return "127.0.0.1", int(ports[0]["HostPort"])


def first_response(host, port, deadline_s=60.0, every_s=0.002):
    """Polls GET /_/health every `every_s` until it answers 200; seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        try:
            c = http.client.HTTPConnection(host, port, timeout=2)
            c.request("GET", "/_/health")
            if c.getresponse().status == 200:
                c.close()
                return time.perf_counter() - t0
            c.close()
        except OSError:
            pass
        time.sleep(every_s)
    raise SystemExit(f"{host}:{port} never answered")


_WRK_LATENCY = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(url, connections, seconds, threads=None):
    """One wrk run: requests/s, p50 and p99 in microseconds, non-2xx count."""
    threads = threads or min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, timeout=seconds + 60, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    unit = {"us": 1, "ms": 1e3, "s": 1e6}
    lat = {p: float(v) * unit[u] for p, v, u in _WRK_LATENCY.findall(out)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": lat.get("50"), "p99": lat.get("99"),
            "non2xx": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(1) if errors else ""}


def median(values):
    return statistics.median(values)
