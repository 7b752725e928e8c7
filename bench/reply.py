"""Reply endpoint: requests/s and latency of POST /feishu/reply under waitress (relay.web).

Three processes, so none measures another's GIL: the fakes (Guance's limit off), relay's reply
server as `relay serve` runs it (relay.web.WebServer, its Guance budget raised so neither limit
is the bottleneck), and a load generator of 16 threads, each on one keep-alive http.client
connection, posting `#<issueUUID>#<text>` replies for a fixed time.

BENCH_PROFILE=/tmp/reply.prof in the environment profiles the server's request handling
(cProfile per worker thread, merged) to find where its CPU goes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

from bench.common import ROOT, hand_back, run_part
from bench.fakes import Fakes

TOKEN = "bench-reply-token-0123456789"
CLIENTS = 16


def serve(guance_url: str, api_key: str) -> None:
    """The server process: relay's reply endpoint as `relay serve` builds it."""
    import logging
    import tempfile

    from relay.config import Settings
    from relay.runtime import Runtime
    from relay.web.app import create_app
    from relay.web.server import WebServer

    logging.getLogger("relay").setLevel(logging.WARNING)  # no line per reply
    # clients beyond the threads would queue by design: no "task queue depth" warnings
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    tmp = tempfile.TemporaryDirectory(prefix="bench-reply-")
    rt = Runtime(Settings(_env_file=None, guance_base_url=guance_url, guance_api_key=api_key,
                          guance_calls_per_minute=10_000_000, reply_token=TOKEN,
                          replies_in_flight=CLIENTS,  # each client's reply waits on Guance
                          feishu_webhook_url=f"{guance_url}/flow/api/trigger-webhook/unused",
                          database_url=f"sqlite:///{tmp.name}/reply.db"))
    app = create_app(rt)
    profile_to = os.environ.get("BENCH_PROFILE")
    if profile_to:
        app.wsgi_app = profiled(app.wsgi_app, profile_to)
    web = WebServer(app, "127.0.0.1", 0)
    print(web.url, flush=True)
    threading.Thread(target=lambda: (sys.stdin.read(), web.stop()), daemon=True).start()
    web.run()
    if profile_to:
        app.wsgi_app.dump()


def profiled(wsgi_app, path: str):
    """BENCH_PROFILE=file: cProfile each waitress worker thread, merged into `file` at exit."""
    import cProfile
    import pstats

    local, profiles = threading.local(), []

    def app(environ, start_response):
        if not hasattr(local, "profile"):
            local.profile = cProfile.Profile()
            profiles.append(local.profile)
        local.profile.enable()
        try:
            return wsgi_app(environ, start_response)
        finally:
            local.profile.disable()

    app.dump = lambda: pstats.Stats(*profiles).dump_stats(path)
    return app


def load(url: str, seconds: float, clients: int, issues: list[str]) -> dict:
    """The load process: `clients` threads, each with one kept-alive connection."""
    parts = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop_at = time.perf_counter() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        i = n
        while time.perf_counter() < stop_at:
            body = json.dumps({"content": f"@relay #{issues[i % len(issues)]}#load {i} #ops"})
            t = time.perf_counter()
            try:
                conn.request("POST", "/feishu/reply", body, headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            latencies[n].append(time.perf_counter() - t)
            errors[n] += not ok
            i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    every = sorted(x for per in latencies for x in per)
    return {"requests": len(every), "errors": sum(errors), "seconds": round(elapsed, 2),
            "rps": round(len(every) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(every), 2),
            "p99_ms": round(1000 * every[int(0.99 * (len(every) - 1))], 2)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of another process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(seconds: float, clients: int = CLIENTS) -> dict:
    fakes = Fakes(time.time(), guance_calls_per_minute=0)
    fakes.add_channels(["ops"])
    issues = [uuid for uuid, _, _ in fakes.add_issues(["ops"], 200, int(time.time()))]
    server = subprocess.Popen([sys.executable, "-m", "bench.reply", "--serve", fakes.guance,
                               fakes.api_key], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=ROOT)
    try:
        url = server.stdout.readline().strip()
        if not url:
            raise RuntimeError("the reply server did not start")
        cpu_before = cpu_seconds(server.pid)
        r = run_part("reply", "--load", url, "--seconds", str(seconds), "--clients",
                     str(clients), "--issues", ",".join(issues))
        r["server_cpu_ms_per_request"] = round(
            1000 * (cpu_seconds(server.pid) - cpu_before) / max(r["requests"], 1), 3)
    finally:
        server.stdin.close()
        server.wait(timeout=10)
        fakes.stop()
    r.update(clients=clients)
    print(f"\n== Reply endpoint: POST /feishu/reply under waitress, {clients} keep-alive clients "
          f"in another process, {r['seconds']} s (fake Guance behind it, limits off)")
    print(f"  {r['requests']} requests, {r['errors']} errors: {r['rps']} req/s, p50 "
          f"{r['p50_ms']} ms, p99 {r['p99_ms']} ms; server CPU {r['server_cpu_ms_per_request']} "
          f"ms/request")
    # no target: Guance takes 20 calls a minute per key, so no team needs hundreds of comments a
    # second, and an absolute rate flips with the machine's load
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--serve", nargs=2, metavar=("GUANCE_URL", "API_KEY"))
    parser.add_argument("--load", metavar="URL")
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--issues")
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
    elif args.load:
        hand_back(load(args.load, args.seconds, args.clients, args.issues.split(",")))
    else:
        hand_back(run(args.seconds or (3.0 if args.quick else 20.0), args.clients))


if __name__ == "__main__":
    main()
