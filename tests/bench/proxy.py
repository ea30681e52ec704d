"""The proxy's cost, measured side by side in one run: the same Node echo function reached
directly (its container's address), through nginx (one worker, upstream keep-alive, access
log off) and through the gateway, with wrk, at 32 connections and at 1. Prints requests/s,
p50 and p99 of each, the ratios to direct and to nginx, and what each proxy adds at p50.

Environment: FAAS_BASE_URL (or FAAS_URL) the gateway (default http://127.0.0.1:8000; its
Docker backend must reach instances on their network address), FAAS_NETWORK (default
faas-functions), DURATION seconds per run (default 8), ROUNDS (default 3; the median run
counts), CONNECTIONS (default "32 1"), BASELINE_URL (optional: a second gateway, for example
an older build on the same Docker, measured in the same rounds as "baseline" with its own
copy of the function)."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Docker, Gateway, address_of, gateway_url, median, unique, wrk  # noqa: E402

ECHO_JS = """exports.handle = async (event) => ({
  statusCode: 200,
  headers: {"content-type": "text/plain"},
  body: "echo " + event.method + " " + event.path,
});
"""

NGINX_CONF = """worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream fn {{ server {host}:{port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{listen};
    location / {{
      proxy_pass http://fn;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_nginx(host, port):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        raise SystemExit("nginx is not installed (apt-get install -y nginx-light)")
    d = tempfile.mkdtemp(prefix="bench-nginx-")
    listen = free_port()
    with open(f"{d}/nginx.conf", "w") as f:
        f.write(NGINX_CONF.format(dir=d, host=host, port=port, listen=listen))
    proc = subprocess.Popen([nginx, "-p", d, "-c", f"{d}/nginx.conf", "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"http://127.0.0.1:{listen}/x"


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    duration = int(os.environ.get("DURATION", "8"))
    rounds = int(os.environ.get("ROUNDS", "3"))
    conns = [int(c) for c in os.environ.get("CONNECTIONS", "32 1").split()]
    network = os.environ.get("FAAS_NETWORK", "faas-functions")
    gw = Gateway(gateway_url())
    path = unique("bench-echo")
    body = {"path": path, "runtime": "node", "code": ECHO_JS, "min_instances": 1,
            "max_instances": 1, "concurrency": 256, "timeout_ms": 30000}
    gw.deploy(body)
    baseline = Gateway(os.environ["BASELINE_URL"]) if os.environ.get("BASELINE_URL") else None
    nginx = None
    try:
        if baseline:
            baseline.deploy(body)
        cb = gw.callback(path)
        cid = cb["instances"][0]["id"]
        host, port = address_of(Docker(), cid, network)
        nginx, nginx_url = start_nginx(host, port)
        urls = {"direct": f"http://{host}:{port}/x", "nginx": nginx_url,
                "gateway": f"{gw.base.scheme}://{gw.base.netloc}/api/{path}/x"}
        if baseline:
            urls["baseline"] = f"{baseline.base.scheme}://{baseline.base.netloc}/api/{path}/x"
        for url in urls.values():
            wrk(url, 4, 1)  # warm-up: connections, JIT, pools
        results = {}
        for c in conns:
            runs = {t: [] for t in urls}
            for _ in range(rounds):
                for target, url in urls.items():
                    r = wrk(url, c, duration)
                    if r["non2xx"] or r["socket_errors"]:
                        raise SystemExit(f"{target} at {c} connections: {r}")
                    runs[target].append(r)
            results[c] = {t: {k: median([r[k] for r in rs]) for k in ("rps", "p50", "p99")}
                          for t, rs in runs.items()}
        report(results, duration, rounds)
    finally:
        if nginx:
            nginx.terminate()
        gw.delete(path)
        if baseline:
            baseline.delete(path)


def report(results, duration, rounds):
    print(f"proxy benchmark: wrk, {duration} s per run, median of {rounds} rounds, Node echo function")
    print(f"{'conns':>5} | {'target':<8} | {'req/s':>8} | {'x direct':>8} | {'x nginx':>7} | {'p50 µs':>8} | {'p99 µs':>8} | {'+p50 µs':>7}")
    for c, r in results.items():
        d, n = r["direct"], r["nginx"]
        for target in ("direct", "nginx", "gateway", "baseline"):
            if target not in r:
                continue
            x = r[target]
            print(f"{c:>5} | {target:<8} | {x['rps']:>8.0f} | {x['rps'] / d['rps']:>8.2f} | "
                  f"{x['rps'] / n['rps']:>7.2f} | {x['p50']:>8.0f} | {x['p99']:>8.0f} | "
                  f"{x['p50'] - d['p50']:>7.0f}")


if __name__ == "__main__":
    main()
