"""What every benchmark shares: the machine description, process figures, PASS/MISS, tables."""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import subprocess
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "  # the line a benchmark subprocess hands its figures back on


def machine() -> str:
    """`nproc`, the CPU model and the Python version: what README's table must name."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"nproc {len(os.sched_getaffinity(0))}, {model}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


@contextmanager
def quiet_logs(*names: str):
    """Only errors from these loggers while measuring (refusals are counted, not logged);
    the levels are put back after, so a test run's own log checks are unaffected."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def hand_back(result: dict) -> None:
    """Print the figures for the parent process (one JSON line, after the human lines)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_part(module: str, *args: str, timeout: float = 900) -> dict:
    """Run `python -m bench.<module> args` in a fresh process (its own CPU and peak RSS);
    its human output passes through, its result line comes back as a dict."""
    proc = subprocess.run([sys.executable, "-m", f"bench.{module}", *args], cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, timeout=timeout)
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
        else:
            print(line, flush=True)
    if proc.returncode != 0 or result is None:
        raise RuntimeError(f"bench.{module} {' '.join(args)} failed (exit {proc.returncode})")
    return result


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class RelayChild:
    """A relay child process (`python -m <module> --serve args`) against the parent's fakes:
    the JSON line it prints when ready (`hello`), and its /proc figures, relay's alone."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", module, "--serve", *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"{module} --serve ended before it was ready")
        self.hello = json.loads(line)

    def cpu_seconds(self) -> float:
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Arrivals(list):
    """A fake Guance issue's replies, each arrival of an `ev-<path>-<n>` key timed."""

    def __init__(self, seen: dict[str, list[float]]) -> None:
        super().__init__()
        self.seen = seen

    def append(self, reply) -> None:
        super().append(reply)
        found = re.search(r"ev-\d+-\d+", str(reply.get("content", "")))
        if found:
            self.seen.setdefault(found.group(0), []).append(time.monotonic())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
