"""Cold starts and resumes, next to their floors, measured side by side in one run.

The gateway's two ways of answering a call that finds no running instance of a Python function:
- cold start: scaled to zero with `keep_paused_s: 0`, the call starts a new container;
- resume: scaled to zero with the default `keep_paused_s`, the call unpauses the paused one.

The floors use the same image, environment, limits and network as the gateway's own container,
call the Docker Engine API directly and poll the runtime's health route every 2 ms:
- `create` + `start` + first response (the floor of a cold start);
- `start` of a container created ahead + first response;
- `unpause` of a paused container + first response (the floor of a resume).

Each gateway figure is one call on a fresh connection, from sending to the end of the response
(a function call, so it includes the proxying). Prints the median of ROUNDS rounds (default 6)
and each gateway figure's ratio to its floor.

Environment: FAAS_BASE_URL (or FAAS_URL) the gateway (default http://127.0.0.1:8000, Docker
backend, instances reached on their network address), FAAS_NETWORK (default faas-functions),
ROUNDS."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Docker, Gateway, address_of, first_response, gateway_url, median, unique  # noqa: E402

HANDLER_PY = """def handle(event, context):
    return {"statusCode": 200, "body": "hello"}
"""


def deploy(gw, path, keep_paused_s):
    gw.deploy({"path": path, "runtime": "python", "code": HANDLER_PY, "min_instances": 0,
               "max_instances": 1, "idle_timeout_s": 1, "keep_paused_s": keep_paused_s})


def running(cb):
    return [i for i in cb["instances"] if i["state"] in ("ready", "busy", "starting")]


def gateway_start(gw, path, header, expect_state):
    """Waits until the callback has no running instance (and, for resumes, a paused one), then
    times one call; checks the gateway says it was the kind of start being measured."""
    gw.wait_for(path, f"scale down to {expect_state or 'nothing'}",
                lambda cb: not running(cb) and (
                    expect_state is None or any(i["state"] == expect_state for i in cb["instances"])))
    took, status, headers = gw.call(path)
    if status != 200 or headers.get(header) != "true":
        raise SystemExit(f"{path}: expected a 200 with {header}: true, got {status} {headers}")
    return took


def template_of(docker, gw, path):
    """The create body of the gateway's own container for `path`, without its name and labels."""
    gw.call(path)
    cid = gw.callback(path)["instances"][0]["id"]
    c = docker.inspect(cid)
    cfg, host = c["Config"], c["HostConfig"]
    body = {"Image": cfg["Image"], "Env": cfg.get("Env"), "Cmd": cfg.get("Cmd"),
            "Entrypoint": cfg.get("Entrypoint"), "WorkingDir": cfg.get("WorkingDir"),
            "ExposedPorts": cfg.get("ExposedPorts"),
            "HostConfig": {k: host.get(k) for k in ("NetworkMode", "Memory", "MemorySwap",
                                                      "NanoCpus", "PortBindings")
                           if host.get(k) is not None}}
    return body, host.get("NetworkMode")


class Floors:
    def __init__(self, docker, template, network):
        self.docker, self.template, self.network = docker, template, network
        self.made = []

    def create(self):
        cid = self.docker.request("POST", "/containers/create", self.template)["Id"]
        self.made.append(cid)
        return cid

    def start_and_answer(self, cid):
        self.docker.request("POST", f"/containers/{cid}/start")
        host, port = address_of(self.docker, cid, self.network)
        return host, port, first_response(host, port)

    def cold(self):
        t0 = time.perf_counter()
        cid = self.create()
        self.start_and_answer(cid)
        return time.perf_counter() - t0

    def precreated(self):
        cid = self.create()
        t0 = time.perf_counter()
        self.start_and_answer(cid)
        return time.perf_counter() - t0

    def unpause(self):
        cid = self.create()
        host, port, _ = self.start_and_answer(cid)
        self.docker.request("POST", f"/containers/{cid}/pause")
        t0 = time.perf_counter()
        self.docker.request("POST", f"/containers/{cid}/unpause")
        first_response(host, port)
        return time.perf_counter() - t0

    def clean(self):
        for cid in self.made:
            try:
                self.docker.request("DELETE", f"/containers/{cid}?force=true")
            except RuntimeError:
                pass


def main():
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    rounds = int(os.environ.get("ROUNDS", "6"))
    network = os.environ.get("FAAS_NETWORK", "faas-functions")
    gw, docker = Gateway(gateway_url()), Docker()
    cold_path, warm_path = unique("bench-cold"), unique("bench-resume")
    deploy(gw, cold_path, 0)
    deploy(gw, warm_path, 600)
    template, network_mode = template_of(docker, gw, cold_path)
    floors = Floors(docker, template, network if network_mode in (None, "default") else network_mode)
    times = {k: [] for k in ("gateway cold start", "create + start + first response",
                             "start of a pre-created container + first response",
                             "gateway resume", "unpause + first response")}
    try:
        gw.call(warm_path)
        for r in range(rounds):
            times["gateway cold start"].append(gateway_start(gw, cold_path, "x-faas-cold-start", None))
            times["create + start + first response"].append(floors.cold())
            times["start of a pre-created container + first response"].append(floors.precreated())
            times["gateway resume"].append(gateway_start(gw, warm_path, "x-faas-resumed", "paused"))
            times["unpause + first response"].append(floors.unpause())
            floors.clean()
            floors.made.clear()
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{v[-1] * 1000:.0f}" for v in times.values()) + " ms",
                  file=sys.stderr)
    finally:
        floors.clean()
        gw.delete(cold_path)
        gw.delete(warm_path)
    report({k: median(v) for k, v in times.items()}, rounds)


def report(m, rounds):
    print(f"cold start benchmark: Python function, median of {rounds} rounds")
    print(f"{'what':<52} | {'median ms':>9} | {'x floor':>7}")
    floors = {"gateway cold start": "create + start + first response",
              "gateway resume": "unpause + first response"}
    for what, value in m.items():
        ratio = f"{value / m[floors[what]]:>7.2f}" if what in floors else f"{'':>7}"
        print(f"{what:<52} | {value * 1000:>9.1f} | {ratio}")


if __name__ == "__main__":
    main()
