#!/usr/bin/env python3
"""End-to-end load benchmark: direct vs nginx vs Bulwark in front of the simulator.

Starts `bulwark upstream-sim`, nginx as a plain keep-alive reverse proxy, the floor
(crates/gateway/examples/floor.rs: the gateway's HTTP machinery with none of Bulwark's
work, informational) and `bulwark serve`, all on loopback with ports picked at run time, then drives each
target with wrk (bench/chat.lua: the same ~1 KiB non-streamed chat completion for
every request) at each connection count, one cell after another, and prints a
table of requests/s and p50/p99 latency plus two ratios with PASS/MISS:

  added-latency ratio = (p50 bulwark - p50 direct) / (p50 nginx - p50 direct)
                        at the lowest connection count (1)          target <= 1.5
  throughput ratio    = req/s bulwark / req/s nginx
                        at the highest connection count (64)        target >= 0.8

The table is also written as Markdown and JSON to bench/out/. Standard library only.
Run `bench/gateway.sh --help` for the options; bench/README.md explains the numbers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "chat.lua"
DEFAULT_BIN = REPO_ROOT / "target" / "release" / "bulwark"
INSTALL_HINT = "apt-get install -y nginx-light wrk"
CHAT_PATH = "/v1/chat/completions"

LATENCY_TARGET = 1.5  # bulwark added p50 <= 1.5x nginx added p50 (lowest conns)
THROUGHPUT_TARGET = 0.8  # bulwark req/s >= 0.8x nginx req/s (highest conns)
# With moderation on (prompts and answers scanned) the moderation issue's target applies
# to throughput; the latency target is the foundation's, measured with moderation off.
MODERATED_THROUGHPUT_TARGET = 0.6

TARGETS = ("direct", "nginx", "floor", "bulwark")
# The floor (crates/gateway/examples/floor.rs) is the gateway's HTTP machinery with none
# of Bulwark's work: it is built on demand and is informational (no target applies).
DEFAULT_FLOOR_BIN = REPO_ROOT / "target" / "release" / "examples" / "floor"
FLOOR_BUILD = ["cargo", "build", "--release", "-p", "bulwark-gateway", "--example", "floor"]


# --------------------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def die(msg: str, code: int = 1) -> None:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def parse_duration(text: str) -> float:
    """'10s', '1.5s', '2m', '500ms', '10' (seconds) -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r} (try 10s, 2m)")
    value = float(m.group(1))
    scale = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]
    return value * scale


def wrk_duration(seconds: float) -> str:
    # wrk takes whole seconds (it accepts s/m/h suffixes but not fractions).
    return f"{max(1, round(seconds))}s"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def first_line(cmd: list[str]) -> str:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"
    out = (r.stdout + "\n" + r.stderr).strip()
    return out.splitlines()[0].strip() if out else "unknown"


def lua_body() -> str:
    """The request body, taken from chat.lua so every client sends the same bytes."""
    m = re.search(r"local body = \[\[(.*?)\]\]", LUA_SCRIPT.read_text(), re.S)
    if not m:
        die(f"could not find the request body in {LUA_SCRIPT}")
    return m.group(1)


def last_json_object(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return obj
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    except json.JSONDecodeError:
        pass
    raise ValueError(f"no JSON object in output: {text.strip()[:300]!r}")


# --------------------------------------------------------------------------- CPU noise

CLK_TCK = os.sysconf("SC_CLK_TCK")
NOISY_CORES = 0.15  # background CPU (cores) above which a cell is flagged as noisy


def machine_ticks() -> tuple[int, int]:
    """(busy, steal) jiffies summed over all CPUs since boot."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = f[:7]
    steal = f[7] if len(f) > 7 else 0
    return user + nice + system + irq + softirq, steal


def group_ticks(pgids: set[int]) -> dict[int, int]:
    """user+system jiffies of the live processes in these process groups, per group."""
    total: dict[int, int] = {g: 0 for g in pgids}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rfind(")") + 2:].split()  # after "pid (comm) "
        try:
            pgrp = int(fields[2])  # field 5
            if pgrp in total:
                total[pgrp] += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
        except (IndexError, ValueError):
            continue
    return total


class CpuMeter:
    """CPU used during an interval by everything *except* this benchmark's processes
    (children are in their own process groups; wrk, once reaped, shows in os.times())."""

    def __init__(self, procs: "Processes") -> None:
        self.procs = procs

    def _sample(self) -> dict[str, float]:
        """Jiffies per named child (simulator, nginx, bulwark) plus 'wrk' for this
        process and its reaped children (the load generator)."""
        t = os.times()
        named = {p.pid: n for n, p in self.procs.procs if n != "wrk"}
        ticks = group_ticks(set(named))
        out: dict[str, float] = {named[g]: float(v) for g, v in ticks.items()}
        out["wrk"] = (t.user + t.system + t.children_user + t.children_system) * CLK_TCK
        return out

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.busy0, self.steal0 = machine_ticks()
        self.ours0 = self._sample()

    def stop(self) -> dict[str, Any]:
        elapsed = max(time.monotonic() - self.t0, 1e-6)
        busy, steal = machine_ticks()
        ours = self._sample()
        to_cores = lambda ticks: max(0.0, ticks / CLK_TCK / elapsed)  # noqa: E731
        per = {n: ours[n] - self.ours0.get(n, 0.0) for n in ours}
        mine = sum(per.values())
        return {
            "background_cores": round(to_cores((busy - self.busy0) - mine), 3),
            "steal_cores": round(to_cores(steal - self.steal0), 3),
            "bench_cores": round(to_cores(mine), 3),
            "cores_by_process": {n: round(to_cores(v), 3) for n, v in per.items()},
            "cpu_seconds_by_process": {n: round(v / CLK_TCK, 3) for n, v in per.items()},
        }


def idle_check(seconds: float = 1.0) -> float:
    """Busy cores on the whole machine over `seconds`, before anything is started."""
    b0, _ = machine_ticks()
    time.sleep(seconds)
    b1, _ = machine_ticks()
    return (b1 - b0) / CLK_TCK / seconds


# --------------------------------------------------------------------------- processes


class Processes:
    """Every child started here, each in its own session so a whole tree
    (e.g. nginx master + workers) can be stopped by its process-group id."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: list[str], logfile: Path, env: dict | None = None,
              stdout=None) -> subprocess.Popen:
        out = open(logfile, "ab") if stdout is None else stdout
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT if stdout is None else subprocess.PIPE,
                env=env, start_new_session=True,
            )
        finally:
            if stdout is None:
                out.close()
        self.procs.append((name, proc))
        return proc

    def forget(self, proc: subprocess.Popen) -> None:
        self.procs = [(n, p) for n, p in self.procs if p is not proc]

    @staticmethod
    def _signal_group(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # pgid == pid: started with start_new_session
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        else:
            # The leader is gone; make sure nothing of its group lingers.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stop_all(self) -> None:
        # Newest first: load generators, then proxies, then the simulator.
        for name, proc in reversed(self.procs):
            try:
                self.stop(proc)
            except Exception as e:  # keep cleaning up the rest
                log(f"could not stop {name} (pid {proc.pid}): {e}")
        self.procs.clear()


def wait_for_line(proc: subprocess.Popen, logfile: Path, pattern: str, timeout: float) -> re.Match | None:
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = rx.search(logfile.read_text(errors="replace"))
        except OSError:
            m = None
        if m:
            return m
        if proc.poll() is not None:
            return None
        time.sleep(0.05)
    return None


# --------------------------------------------------------------------------- setup


NGINX_CONF = """\
# Generated by bench/gateway.py: nginx as a plain keep-alive reverse proxy.
worker_processes auto;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;

events {{
    worker_connections 4096;
}}

http {{
    access_log {access_log};
    client_body_temp_path {dir}/tmp/client_body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;

    # Like the gateway: no per-connection request cap on either side.
    keepalive_requests 1000000;
    keepalive_timeout 75s;

    upstream sim {{
        server 127.0.0.1:{sim_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
    }}
}}
"""


def nginx_access_log(mode: str, ndir: Path) -> str:
    """The `access_log` directive's arguments for --nginx-access-log. Debian's nginx.conf
    has `access_log /var/log/nginx/access.log;`: the combined format, no buffer, so one
    write(2) per request."""
    if mode == "off":
        return "off"
    if mode == "buffered":
        return f"{ndir}/access.log combined buffer=64k"
    return f"{ndir}/access.log combined"


def gateway_config(sim_port: int, moderation: str) -> str:
    # "on" is the product's default (no [moderation] section: every category checked and
    # blocked on both sides); "off" measures the proxy alone.
    off = '\n[moderation]\nenabled = false\nfail_mode = "closed"\n' if moderation == "off" else ""
    return (
        "# Generated by bench/gateway.py\n"
        "version = 1\n\n"
        "[[upstreams]]\n"
        'name = "sim"\n'
        f'base_url = "http://127.0.0.1:{sim_port}/v1"\n'
        'models = ["*"]\n'
        + off
    )


def bulwark_json(binary: Path, args: list[str], data_dir: Path) -> dict[str, Any]:
    cmd = [str(binary), *args, "--json", "--data-dir", str(data_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        die(f"`{' '.join(cmd)}` exited {r.returncode}:\n{r.stdout}{r.stderr}")
    try:
        return last_json_object(r.stdout)
    except ValueError as e:
        die(f"`{' '.join(cmd)}`: {e}")
    raise AssertionError("unreachable")


def provision_key(binary: Path, data_dir: Path) -> str:
    tenant = bulwark_json(binary, ["tenants", "create"], data_dir)["id"]
    account = bulwark_json(binary, ["accounts", "create", "--tenant", tenant], data_dir)["id"]
    key = bulwark_json(binary, ["keys", "create", "--account", account], data_dir)
    secret = key.get("secret")
    if not secret:
        die(f"`bulwark keys create` returned no secret: {key}")
    log(f"provisioned {tenant} / {account} / {key.get('id')}")
    return str(secret)


def preflight(name: str, url: str, body: bytes, api_key: str) -> None:
    """One request before the load: the target must answer 200 with a chat completion."""
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "Authorization": f"Bearer {api_key}",
    })
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode(errors="replace")
    except OSError as e:
        die(f"preflight {name}: {url}: {e}")
    if status != 200:
        die(f"preflight {name}: {url} answered {status}: {text[:500]}")
    try:
        doc = json.loads(text)
        ok = bool(doc.get("choices"))
    except (json.JSONDecodeError, AttributeError):
        ok = False
    if not ok:
        die(f"preflight {name}: {url} answered 200 but not a chat completion: {text[:500]}")
    log(f"preflight {name}: 200, {len(text)} bytes")


# --------------------------------------------------------------------------- wrk


NON2XX_RX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
SOCKET_RX = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def run_wrk(procs: Processes, url: str, conns: int, seconds: float, api_key: str,
            timeout: str, meter: CpuMeter | None = None) -> tuple[dict[str, Any], str]:
    threads = 1 if conns == 1 else min(2, conns)
    cmd = ["wrk", "-t", str(threads), "-c", str(conns), "-d", wrk_duration(seconds),
           "--timeout", timeout, "--latency", "-s", str(LUA_SCRIPT), url]
    env = dict(os.environ, BENCH_API_KEY=api_key, BENCH_PATH=CHAT_PATH)
    if meter:
        meter.start()
    proc = procs.start("wrk", cmd, Path(os.devnull), env=env, stdout=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        die(f"wrk did not finish: {' '.join(cmd)}")  # stop_all() ends it
    procs.forget(proc)
    cpu = meter.stop() if meter else None
    text = out.decode(errors="replace") + err.decode(errors="replace")
    if proc.returncode != 0:
        die(f"wrk exited {proc.returncode}: {' '.join(cmd)}\n{text}")
    m = re.search(r"^BENCH_JSON (\{.*\})\s*$", text, re.M)
    if not m:
        die(f"no BENCH_JSON line in wrk output:\n{text}")
    result = json.loads(m.group(1))
    result["threads"] = threads
    result["cpu"] = cpu
    # Cross-check the Lua numbers against wrk's own report.
    n = NON2XX_RX.search(text)
    result["non2xx_report"] = int(n.group(1)) if n else 0
    s = SOCKET_RX.search(text)
    result["socket_report"] = [int(x) for x in s.groups()] if s else [0, 0, 0, 0]
    return result, text


# --------------------------------------------------------------------------- cells


def summarize_run(r: dict[str, Any], alive: bool, target: str) -> dict[str, Any]:
    e = r["errors"]
    socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
    non2xx = max(e["status"], r["non2xx_report"])
    lat = r["latency_us"]
    run = {
        "threads": r["threads"], "requests": r["requests"], "duration_s": r["duration_us"] / 1e6,
        "rps": r["rps"], "p50_us": lat["p50"], "p90_us": lat["p90"], "p99_us": lat["p99"],
        "p999_us": lat["p999"], "mean_us": lat["mean"], "max_us": lat["max"],
        "non2xx": non2xx, "socket_errors": socket_errors, "errors": e,
        "transfer_bytes": r["bytes"], "cpu": r["cpu"],
        "valid": non2xx == 0 and socket_errors == 0 and r["requests"] > 0 and alive,
    }
    # CPU time the proxy spent per request (jiffy resolution: +-10 ms over the run).
    proxy_s = r["cpu"]["cpu_seconds_by_process"].get(target) if target != "direct" else None
    run["proxy_cpu_us_per_req"] = (proxy_s * 1e6 / r["requests"]) if proxy_s is not None and r["requests"] else None
    if not alive:
        run["note"] = "a benchmark process died during the run"
    return run


def aggregate(target: str, conns: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell: the median of each figure over its runs, errors summed."""
    med = lambda key: statistics.median(x[key] for x in runs)  # noqa: E731
    bg = max(x["cpu"]["background_cores"] for x in runs)
    return {
        "target": target, "connections": conns, "threads": runs[0]["threads"], "runs": len(runs),
        "rps": med("rps"), "p50_us": med("p50_us"), "p90_us": med("p90_us"), "p99_us": med("p99_us"),
        "p999_us": med("p999_us"), "mean_us": med("mean_us"),
        "proxy_cpu_us_per_req": (statistics.median(x["proxy_cpu_us_per_req"] for x in runs)
                                 if runs[0]["proxy_cpu_us_per_req"] is not None else None),
        "requests": sum(x["requests"] for x in runs),
        "non2xx": sum(x["non2xx"] for x in runs),
        "socket_errors": sum(x["socket_errors"] for x in runs),
        "background_cores_max": bg,
        "noisy": bg > NOISY_CORES,
        "valid": all(x["valid"] for x in runs),
        "per_run": runs,
    }


# --------------------------------------------------------------------------- report


def measure_ttft(url: str, api_key: str, n: int) -> dict[str, Any]:
    """Time to first token of a streamed chat completion: from sending the request to
    reading the first `data:` line, over `n` sequential requests on one keep-alive
    connection. The simulator paces its chunks 10 ms apart, so the first chunk is the
    only one that counts."""
    import http.client
    import urllib.parse
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body = json.dumps({"model": "gpt-4o-mini", "stream": True,
                       "messages": [{"role": "user", "content": "Tell me about lighthouses."}]})
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
               "x-sim-chunk-delay-ms": "10"}
    samples: list[float] = []
    for i in range(n + 10):
        t0 = time.perf_counter()
        conn.request("POST", CHAT_PATH, body, headers)
        resp = conn.getresponse()
        first = resp.readline()
        t1 = time.perf_counter()
        resp.read()
        if resp.status != 200 or not first.startswith(b"data:"):
            raise RuntimeError(f"TTFT probe got status {resp.status}, first line {first[:80]!r}")
        if i >= 10:  # the first ten warm the connection up
            samples.append((t1 - t0) * 1e6)
    conn.close()
    samples.sort()
    return {"n": n, "p50_us": samples[len(samples) // 2], "p90_us": samples[int(len(samples) * 0.9)]}


def ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.3f}"


def ratio_verdicts(cells: list[dict[str, Any]], conns: list[int],
                   moderation: str = "off") -> dict[str, Any]:
    throughput_target = MODERATED_THROUGHPUT_TARGET if moderation == "on" else THROUGHPUT_TARGET
    def cell(target: str, c: int) -> dict[str, Any] | None:
        for x in cells:
            if x["target"] == target and x["connections"] == c:
                return x
        return None

    lo, hi = min(conns), max(conns)
    out: dict[str, Any] = {}

    d, n, b = cell("direct", lo), cell("nginx", lo), cell("bulwark", lo)
    lat: dict[str, Any] = {"connections": lo, "target": f"<= {LATENCY_TARGET}"}
    if d and n and b:
        nginx_added = n["p50_us"] - d["p50_us"]
        bulwark_added = b["p50_us"] - d["p50_us"]
        lat.update(nginx_added_us=nginx_added, bulwark_added_us=bulwark_added)
        if nginx_added > 0:
            lat["ratio"] = bulwark_added / nginx_added
            ok = lat["ratio"] <= LATENCY_TARGET
        else:  # nginx added nothing measurable: only a Bulwark that adds nothing passes
            lat["ratio"] = None
            ok = bulwark_added <= 0
        valid = d["valid"] and n["valid"] and b["valid"]
        lat["verdict"] = ("PASS" if ok else "MISS") if valid else "INVALID"
        if moderation == "on":
            lat["target"] = "none with moderation on"
            lat["verdict"] = "INFO" if valid else "INVALID"
    else:
        lat.update(ratio=None, verdict="NOT RUN")
    out["added_latency"] = lat

    n, b = cell("nginx", hi), cell("bulwark", hi)
    thr: dict[str, Any] = {"connections": hi, "target": f">= {throughput_target}"}
    if n and b and n["rps"] > 0:
        thr["ratio"] = b["rps"] / n["rps"]
        valid = n["valid"] and b["valid"]
        thr["verdict"] = ("PASS" if thr["ratio"] >= throughput_target else "MISS") if valid else "INVALID"
    else:
        thr.update(ratio=None, verdict="NOT RUN")
    out["throughput"] = thr

    # Informational: what the HTTP stack costs against nginx (floor/nginx) and what
    # Bulwark's own work costs on top of it (bulwark/floor), at the highest count.
    f = cell("floor", hi)
    if f and f["rps"] > 0:
        out["floor"] = {
            "connections": hi,
            "floor_vs_nginx": f["rps"] / n["rps"] if n and n["rps"] > 0 else None,
            "bulwark_vs_floor": b["rps"] / f["rps"] if b else None,
            "floor_cpu_us_per_req": f["proxy_cpu_us_per_req"],
            "bulwark_cpu_us_per_req": b["proxy_cpu_us_per_req"] if b else None,
        }
    return out


def table_rows(cells: list[dict[str, Any]]) -> list[list[str]]:
    direct_p50 = {c["connections"]: c["p50_us"] for c in cells if c["target"] == "direct"}
    rows = []
    for c in cells:
        base = direct_p50.get(c["connections"])
        added = "-" if c["target"] == "direct" or base is None else f"{(c['p50_us'] - base) / 1000:+.3f}"
        rows.append([
            c["target"], str(c["connections"]), str(c["threads"]),
            f"{c['rps']:,.0f}", ms(c["p50_us"]), ms(c["p99_us"]), added,
            "-" if c["proxy_cpu_us_per_req"] is None else f"{c['proxy_cpu_us_per_req']:.1f}",
            str(c["requests"]), str(c["non2xx"]), str(c["socket_errors"]),
            f"{c['background_cores_max']:.2f}" + (" !" if c["noisy"] else ""),
            "yes" if c["valid"] else "NO",
        ])
    return rows


HEADERS = ["target", "conns", "threads", "req/s", "p50 ms", "p99 ms", "added p50 ms", "proxy cpu us/req",
           "requests", "non-2xx", "socket errs", "bg cpu", "valid"]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    def fmt(r: list[str]) -> str:
        return "  ".join(v.rjust(w) if i not in (0,) else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths)))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(HEADERS), sep, *(fmt(r) for r in rows)])


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 2) + [":---:"]) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def shutdown_report(logfile: Path, data_dir: Path) -> dict[str, Any] | None:
    """The counters `bulwark serve` logs when it stops, and the size of its data dir."""
    try:
        text = logfile.read_text(errors="replace")
    except OSError:
        return None
    found = None
    for m in re.finditer(r"events_written[=:] ?(\d+).*?events_dropped[=:] ?(\d+).*?"
                         r"events_failed[=:] ?(\d+)", text):
        found = m
    out: dict[str, Any] = {}
    if found:
        out.update(events_written=int(found.group(1)), events_dropped=int(found.group(2)),
                   events_failed=int(found.group(3)))
    m = re.search(r"aborted_connections[=:] ?(\d+)", text)
    if m:
        out["aborted_connections"] = int(m.group(1))
    if data_dir.is_dir():
        size = sum(f.stat().st_size for f in data_dir.rglob("*") if f.is_file())
        out["data_dir_mib"] = round(size / 2**20, 1)
    return out or None


def footnotes(cells: list[dict[str, Any]]) -> list[str]:
    noisy = [c for c in cells if c["noisy"]]
    if not noisy:
        return []
    worst = max(c["background_cores_max"] for c in noisy)
    return [f"NOISY: {len(noisy)} of {len(cells)} cells ran while other processes used up to "
            f"{worst:.2f} cores of this machine; the numbers (and ratios) are not reliable. "
            "Re-run on an idle machine, or with --rounds 3."]


def ratio_lines(ratios: dict[str, Any]) -> list[str]:
    lat, thr = ratios["added_latency"], ratios["throughput"]
    if lat.get("ratio") is not None:
        lat_txt = (f"{lat['ratio']:.2f}x  (bulwark +{lat['bulwark_added_us'] / 1000:.3f} ms vs "
                   f"nginx +{lat['nginx_added_us'] / 1000:.3f} ms over direct)")
    elif "nginx_added_us" in lat:
        lat_txt = (f"n/a  (nginx added {lat['nginx_added_us'] / 1000:+.3f} ms, "
                   f"bulwark {lat['bulwark_added_us'] / 1000:+.3f} ms)")
    else:
        lat_txt = "n/a"
    thr_txt = f"{thr['ratio']:.2f}x" if thr.get("ratio") is not None else "n/a"
    lines = [
        f"added p50 latency at {lat['connections']} conn, bulwark/nginx: {lat_txt}  "
        f"target {lat['target']}  -> {lat['verdict']}",
        f"throughput at {thr['connections']} conns, bulwark/nginx: {thr_txt}  "
        f"target {thr['target']}  -> {thr['verdict']}",
    ]
    floor = ratios.get("floor")
    if floor:
        ratio = lambda v: "n/a" if v is None else f"{v:.2f}x"  # noqa: E731
        cpu = ""
        if floor["floor_cpu_us_per_req"] is not None and floor["bulwark_cpu_us_per_req"] is not None:
            cpu = (f"; CPU per request: floor {floor['floor_cpu_us_per_req']:.1f} us, "
                   f"bulwark {floor['bulwark_cpu_us_per_req']:.1f} us")
        lines.append(
            f"floor at {floor['connections']} conns (the HTTP stack alone): floor/nginx "
            f"{ratio(floor['floor_vs_nginx'])}, bulwark/floor {ratio(floor['bulwark_vs_floor'])}"
            f"{cpu}  (informational)")
    return lines


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="bench/gateway.sh",
        description="Load benchmark: direct vs nginx vs Bulwark in front of the simulator.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--duration", type=parse_duration, default=env("BENCH_DURATION", "10s"),
                   help="measured time per run (env BENCH_DURATION)")
    p.add_argument("--warmup", type=parse_duration, default=env("BENCH_WARMUP", "3s"),
                   help="unmeasured warm-up before every run, 0 to skip (env BENCH_WARMUP)")
    p.add_argument("--connections", default=env("BENCH_CONNECTIONS", "1,64"),
                   help="comma-separated connection counts (env BENCH_CONNECTIONS)")
    p.add_argument("--rounds", type=int, default=int(env("BENCH_ROUNDS", "1")),
                   help="runs per cell, round-robin over the targets; cells report the median "
                        "(env BENCH_ROUNDS)")
    p.add_argument("--targets", default=None,
                   help="which of direct,nginx,floor,bulwark to run (default: all four; the "
                        "floor is skipped with a note when its binary is missing)")
    p.add_argument("--floor-bin", type=Path, default=Path(env("BENCH_FLOOR_BIN", str(DEFAULT_FLOOR_BIN))),
                   help="the floor proxy (crates/gateway/examples/floor.rs; env BENCH_FLOOR_BIN), "
                        "built by: " + " ".join(FLOOR_BUILD))
    p.add_argument("--bulwark", type=Path, default=Path(env("BENCH_BULWARK_BIN", str(DEFAULT_BIN))),
                   help="bulwark binary (env BENCH_BULWARK_BIN; not BULWARK_*: the gateway reads those as configuration)")
    p.add_argument("--sim-bin", type=Path, default=None,
                   help="binary whose `upstream-sim` subcommand runs the simulator; None means --bulwark")
    p.add_argument("--build", action="store_true",
                   help="run `cargo build --release` at the repo root first")
    p.add_argument("--timeout", default="5s", help="wrk per-request timeout")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "out", help="where the reports go")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")
    p.add_argument("--wait-idle", type=parse_duration, default=env("BENCH_WAIT_IDLE", "0s"),
                   help="before starting, wait up to this long for the machine to go idle "
                        "(env BENCH_WAIT_IDLE)")
    p.add_argument("--strict", action="store_true", help="exit 2 when a ratio is not PASS")
    p.add_argument("--moderation", choices=("on", "off"), default=env("BENCH_MODERATION", "on"),
                   help="content moderation in the gateway: on (the default configuration: "
                        "prompts and answers scanned) or off (env BENCH_MODERATION)")
    p.add_argument("--nginx-access-log", choices=("off", "on", "buffered"),
                   default=env("BENCH_NGINX_ACCESS_LOG", "off"),
                   help="nginx's access log: off (the strictest baseline, the default), on "
                        "(as Debian's nginx.conf ships it: `access_log FILE;`, one line written "
                        "per request, as the gateway records one event per request) or buffered "
                        "(the same line through a 64 KiB buffer) (env BENCH_NGINX_ACCESS_LOG)")
    p.add_argument("--ttft", type=int, default=int(env("BENCH_TTFT", "300")),
                   help="streamed requests per target for the time-to-first-token probe (0: skip)")
    a = p.parse_args(argv)
    try:
        a.conns = sorted({int(x) for x in a.connections.split(",") if x.strip()})
    except ValueError:
        p.error(f"bad --connections {a.connections!r}")
    if not a.conns or min(a.conns) < 1:
        p.error("--connections needs positive integers")
    a.targets_given = a.targets is not None
    a.target_list = [t.strip() for t in (a.targets or ",".join(TARGETS)).split(",") if t.strip()]
    bad = [t for t in a.target_list if t not in TARGETS]
    if bad or not a.target_list:
        p.error(f"--targets takes a subset of {','.join(TARGETS)}")
    a.target_list = [t for t in TARGETS if t in a.target_list]  # fixed order
    if a.rounds < 1:
        p.error("--rounds must be at least 1")
    if a.duration < 1:
        p.error("--duration must be at least 1s")
    return a


def check_tools() -> None:
    missing = [t for t in ("nginx", "wrk") if shutil.which(t) is None
               and not (t == "nginx" and Path("/usr/sbin/nginx").exists())]
    if missing:
        print(f"error: missing {', '.join(missing)}. Install with:\n\n    {INSTALL_HINT}\n",
              file=sys.stderr)
        raise SystemExit(1)


def nginx_path() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def binary_info(path: Path) -> dict[str, Any]:
    st = path.stat()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {
        "path": str(path),
        "version": first_line([str(path), "--version"]),
        "modified": _dt.datetime.fromtimestamp(st.st_mtime).isoformat(timespec="seconds"),
        "size_bytes": st.st_size,
        "sha256": h.hexdigest()[:16],
    }


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(),
            "python": platform.python_version()}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    check_tools()

    if args.build:
        log("cargo build --release")
        r = subprocess.run(["cargo", "build", "--release"], cwd=REPO_ROOT)
        if r.returncode != 0:
            die("cargo build --release failed")
        if "floor" in args.target_list:
            log(" ".join(FLOOR_BUILD))
            if subprocess.run(FLOOR_BUILD, cwd=REPO_ROOT).returncode != 0:
                die("building the floor proxy failed")
    floor_bin = args.floor_bin.resolve()
    if "floor" in args.target_list and not floor_bin.is_file():
        if args.targets_given:
            die(f"floor binary {floor_bin} not found: run `{' '.join(FLOOR_BUILD)}` "
                "(or pass --build / --floor-bin PATH)")
        log(f"floor binary {floor_bin} not found: skipping the floor "
            f"(`{' '.join(FLOOR_BUILD)}` builds it)")
        args.target_list.remove("floor")
        meta_targets_note = "floor skipped: binary not built"
    else:
        meta_targets_note = None

    need_bulwark = "bulwark" in args.target_list
    sim_bin = (args.sim_bin or args.bulwark).resolve()
    bulwark = args.bulwark.resolve()
    for path, what in ((sim_bin, "simulator"), *(((bulwark, "gateway"),) if need_bulwark else ())):
        if not path.is_file():
            die(f"{what} binary {path} not found: run `cargo build --release` at {REPO_ROOT} "
                f"(or pass --build / --bulwark PATH)")

    body = lua_body()
    if args.wait_idle > 0:
        deadline = time.monotonic() + args.wait_idle
        while (busy := idle_check(2.0)) > NOISY_CORES and time.monotonic() < deadline:
            log(f"waiting for the machine to go idle: {busy:.2f} cores busy")
            time.sleep(3)
    meta: dict[str, Any] = {
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "nginx": first_line([nginx_path(), "-v"]),
        "wrk": first_line(["wrk", "-v"]),
        "simulator_binary": binary_info(sim_bin),
        "bulwark_binary": binary_info(bulwark) if need_bulwark else None,
        "duration_s": round(args.duration), "warmup_s": round(args.warmup) if args.warmup >= 0.5 else 0,
        "rounds": args.rounds, "connections": args.conns, "targets": args.target_list,
        "targets_note": meta_targets_note,
        "floor_binary": binary_info(floor_bin) if "floor" in args.target_list else None,
        "moderation": args.moderation,
        "nginx_access_log": args.nginx_access_log,
        "background_cores_before_start": round(idle_check(), 2),
        "request": {"method": "POST", "path": CHAT_PATH, "body_bytes": len(body.encode()),
                    "stream": False, "model": "gpt-4o-mini", "lua": str(LUA_SCRIPT.relative_to(REPO_ROOT))},
    }
    print("== Bulwark gateway load benchmark ==")
    print(f"machine   : {meta['machine']['cpus']} CPUs, {meta['machine']['cpu_model']}, "
          f"Linux {meta['machine']['kernel']}")
    if need_bulwark:
        bi = meta["bulwark_binary"]
        print(f"bulwark   : {bi['path']}  ({bi['version']}; built {bi['modified']}, sha256 {bi['sha256']}…)")
        print(f"moderation: {args.moderation}")
    if sim_bin != bulwark or not need_bulwark:
        si = meta["simulator_binary"]
        print(f"simulator : {si['path']}  ({si['version']}; built {si['modified']})")
    print(f"nginx     : {nginx_path()}  ({meta['nginx']}; access log {args.nginx_access_log})")
    if meta["floor_binary"]:
        fi = meta["floor_binary"]
        print(f"floor     : {fi['path']}  (built {fi['modified']}; the HTTP stack without Bulwark's work)")
    print(f"wrk       : {shutil.which('wrk')}  ({meta['wrk']})")
    print(f"load      : {meta['warmup_s']}s warm-up + {meta['duration_s']}s measured per run, "
          f"{args.rounds} run(s) per cell, connections {args.conns}, "
          f"POST {CHAT_PATH} with a {meta['request']['body_bytes']}-byte body")
    idle = meta["background_cores_before_start"]
    print(f"idle      : {idle:.2f} of {meta['machine']['cpus']} cores busy before start"
          + ("  ** the machine is not idle: expect noisy numbers **" if idle > NOISY_CORES else ""))
    print(flush=True)

    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="bulwark-bench-"))
    failed = True

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    cells: list[dict[str, Any]] = []
    ttft: dict[str, dict[str, Any]] = {}
    try:
        api_key = "bench-no-key"
        urls: dict[str, str] = {}

        # -- simulator
        sim_log = tmp / "sim.log"
        sim_port = free_port()
        sim = procs.start("simulator", [str(sim_bin), "upstream-sim", "--listen", f"127.0.0.1:{sim_port}"], sim_log)
        m = wait_for_line(sim, sim_log, r"bulwark-sim listening on (http://\S+)", 30)
        if not m:
            die(f"simulator did not start:\n{tail(sim_log)}")
        urls["direct"] = m.group(1).rstrip("/")
        log(f"simulator at {urls['direct']} (pid {sim.pid})")
        sim_port = int(urls["direct"].rsplit(":", 1)[1])

        # -- nginx
        if "nginx" in args.target_list:
            ndir = tmp / "nginx"
            (ndir / "tmp").mkdir(parents=True)
            nport = free_port()
            (ndir / "nginx.conf").write_text(NGINX_CONF.format(
                dir=ndir, port=nport, sim_port=sim_port,
                access_log=nginx_access_log(args.nginx_access_log, ndir)))
            nlog = tmp / "nginx.log"
            t = subprocess.run([nginx_path(), "-t", "-p", str(ndir), "-c", str(ndir / "nginx.conf")],
                               capture_output=True, text=True)
            if t.returncode != 0:
                die(f"nginx -t rejected the generated config:\n{t.stderr}")
            ngx = procs.start("nginx", [nginx_path(), "-p", str(ndir), "-c", str(ndir / "nginx.conf"),
                                        "-g", "daemon off;"], nlog)
            if not wait_for_port(nport, 15, ngx):
                die(f"nginx did not start:\n{tail(nlog)}\n{tail(ndir / 'error.log')}")
            urls["nginx"] = f"http://127.0.0.1:{nport}"
            log(f"nginx at {urls['nginx']} (pid {ngx.pid})")

        # -- floor: the gateway's HTTP machinery without Bulwark's work
        if "floor" in args.target_list:
            flog = tmp / "floor.log"
            fport = free_port()
            fl = procs.start("floor", [str(floor_bin), f"127.0.0.1:{fport}", f"127.0.0.1:{sim_port}"], flog)
            if not wait_for_port(fport, 15, fl):
                die(f"the floor proxy did not start:\n{tail(flog)}")
            urls["floor"] = f"http://127.0.0.1:{fport}"
            log(f"floor at {urls['floor']} (pid {fl.pid})")

        # -- bulwark
        if need_bulwark:
            data_dir = tmp / "data"
            data_dir.mkdir()
            cfg = tmp / "bulwark.toml"
            cfg.write_text(gateway_config(sim_port, args.moderation))
            api_key = provision_key(bulwark, data_dir)
            glog = tmp / "bulwark.log"
            gport = free_port()
            gw = procs.start("bulwark", [str(bulwark), "serve", "--listen", f"127.0.0.1:{gport}",
                                         "--data-dir", str(data_dir), "--config", str(cfg)], glog)
            m = wait_for_line(gw, glog, r"bulwark listening on (http://\S+)", 30)
            if not m:
                die(f"bulwark serve did not start:\n{tail(glog)}")
            urls["bulwark"] = m.group(1).rstrip("/")
            log(f"bulwark at {urls['bulwark']} (pid {gw.pid})")

        for t in args.target_list:
            preflight(t, urls[t] + CHAT_PATH, body.encode(), api_key)

        # -- the cells, one after another; with --rounds N each connection count is run
        # N times round-robin over the targets and every cell reports its median run.
        meter = CpuMeter(procs)
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for conns in args.conns:
            for rnd in range(1, args.rounds + 1):
                for target in args.target_list:
                    url = urls[target]
                    label = f"{target} c={conns}" + (f" round {rnd}/{args.rounds}" if args.rounds > 1 else "")
                    if args.warmup >= 0.5:
                        log(f"{label}: warm-up {wrk_duration(args.warmup)}")
                        run_wrk(procs, url, conns, args.warmup, api_key, args.timeout)
                    log(f"{label}: measuring {wrk_duration(args.duration)}")
                    r, raw = run_wrk(procs, url, conns, args.duration, api_key, args.timeout, meter)
                    (tmp / f"wrk-{target}-c{conns}-r{rnd}.txt").write_text(raw)
                    run = summarize_run(r, alive=all(p.poll() is None for _, p in procs.procs), target=target)
                    runs.setdefault((target, conns), []).append(run)
                    log(f"{label}: {run['rps']:,.0f} req/s, p50 {ms(run['p50_us'])} ms, "
                        f"p99 {ms(run['p99_us'])} ms, non-2xx {run['non2xx']}, "
                        f"socket errors {run['socket_errors']}, background CPU "
                        f"{run['cpu']['background_cores']:.2f} cores"
                        + ("" if run["valid"] else "  ** INVALID **"))
            for target in args.target_list:
                cells.append(aggregate(target, conns, runs[(target, conns)]))

        # -- time to first token of a stream, one request at a time
        if args.ttft > 0:
            for target in args.target_list:
                log(f"{target}: time to first token over {args.ttft} streamed requests")
                ttft[target] = measure_ttft(urls[target], api_key, args.ttft)
        failed = False
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); stopping everything")
        failed = False  # nothing to inspect: drop the temp dir unless --keep-tmp
        return 130
    finally:
        procs.stop_all()
        gateway_report = shutdown_report(tmp / "bulwark.log", tmp / "data")
        if failed or args.keep_tmp:
            log(f"logs and configs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)

    # -- report
    meta["gateway_shutdown"] = gateway_report
    ratios = ratio_verdicts(cells, args.conns, args.moderation)
    rows = table_rows(cells)
    print()
    print(text_table(rows))
    print()
    for line in ratio_lines(ratios):
        print(line)
    invalid = [c for c in cells if not c["valid"]]
    if invalid:
        print(f"\n{len(invalid)} INVALID cell(s): " + ", ".join(
            f"{c['target']} c={c['connections']} (non-2xx {c['non2xx']}, socket errors {c['socket_errors']}"
            + (", a process died" if any("note" in x for x in c["per_run"]) else "") + ")"
            for c in invalid))
    ttft_lines = []
    if ttft:
        base = ttft.get("direct", {}).get("p50_us")
        for target, t in ttft.items():
            extra = "" if target == "direct" or base is None else f"  (+{(t['p50_us'] - base) / 1000:.3f} ms over direct)"
            ttft_lines.append(f"time to first token, {target}: p50 {t['p50_us'] / 1000:.3f} ms, "
                              f"p90 {t['p90_us'] / 1000:.3f} ms{extra}")
        if base is not None and "bulwark" in ttft:
            added = (ttft["bulwark"]["p50_us"] - base) / 1000
            ttft_lines.append(f"streaming: bulwark adds {added:.3f} ms to the first token at p50 "
                              f"(target <= 1 ms) -> {'PASS' if added <= 1.0 else 'MISS'}")
        print()
        for line in ttft_lines:
            print(line)
    notes = footnotes(cells)
    if gateway_report:
        notes.append("gateway on exit: " + ", ".join(f"{k} {v}" for k, v in gateway_report.items()))
    for line in notes:
        print(line)

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report = {"meta": meta, "cells": cells, "ratios": ratios, "ttft": ttft}
    md = "\n".join([
        "# Bulwark gateway load benchmark",
        "",
        f"- run: {meta['started']}",
        f"- machine: {meta['machine']['cpus']} CPUs, {meta['machine']['cpu_model']}, Linux {meta['machine']['kernel']}",
        *([f"- bulwark: `{meta['bulwark_binary']['path']}` ({meta['bulwark_binary']['version']}, "
           f"built {meta['bulwark_binary']['modified']}, sha256 {meta['bulwark_binary']['sha256']}…)"]
          if meta["bulwark_binary"] else []),
        *([f"- moderation in the gateway: {meta['moderation']}"] if meta["bulwark_binary"] else []),
        f"- nginx: {meta['nginx']}; wrk: {meta['wrk']}",
        f"- load: {meta['warmup_s']} s warm-up + {meta['duration_s']} s measured per run, "
        f"{meta['rounds']} run(s) per cell (median); "
        f"non-streamed `POST {CHAT_PATH}`, {meta['request']['body_bytes']}-byte body; "
        "1 wrk thread at 1 connection, 2 otherwise",
        "",
        md_table(rows),
        "",
        "added p50 = p50 through the proxy − p50 direct at the same connection count; "
        "proxy cpu us/req = CPU time the proxy (nginx: all workers; floor and bulwark: all threads) used "
        "per request; bg cpu = cores used by processes outside the benchmark during the measurement "
        f"(\"!\" above {NOISY_CORES}).",
        "",
        *[f"- {line}" for line in ratio_lines(ratios)],
        *[f"- {line}" for line in ttft_lines],
        *(["", *notes] if notes else []),
        "",
    ])
    for name in (f"gateway-{stamp}", "gateway-latest"):
        (args.out / f"{name}.md").write_text(md)
        (args.out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out / f'gateway-{stamp}.md'} and .json (also gateway-latest.*)")

    if invalid:
        return 3
    if args.strict and any(r["verdict"] not in ("PASS", "INFO") for r in ratios.values()):
        return 2
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
