"""The crontab file: `m h dom mon dow job-name [key=value ...]`, run by APScheduler.

Day-of-week follows cron (0 or 7 = Sunday), not APScheduler's own numbering (0 = Monday): the
field is translated to day names before APScheduler sees it. As in cron, when both day-of-month
and day-of-week are restricted (neither starts with `*`), a day matching either one fires.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import OperationalError

from relay.store.base import is_busy

log = logging.getLogger("relay.schedule")

DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
          "@annually": "0 0 1 1 *"}
MAX_CRONTAB_BYTES = 256 * 1024
# an edit is applied once the file has stayed the same this long: a file caught mid-write (an
# editor saving in parts, `cat > crontab` from a slow pipe) would lose the jobs after the cut
SETTLE_SECONDS = 0.5
SETTLE_AT_MOST_SECONDS = 30.0  # a file still changing after this: try again at the next look


class CrontabError(Exception):
    """One or more bad lines; str() gives one `FILE:LINE: reason` per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class CronEntry:
    line: int
    schedule: str
    job: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    trigger: BaseTrigger | None = None


def cron_day_of_week(spec: str) -> str:
    """Translate a cron day-of-week field (0/7 = Sunday, names, ranges, steps) to names."""
    if spec == "*":
        return "*"
    days: set[int] = set()
    for part in spec.lower().split(","):
        match = re.fullmatch(r"(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?", part)
        if not match:
            raise ValueError(f"day of week {part!r} is not a day, range or step")
        first, last, step = match.groups()
        lo = 0 if first == "*" else _day_number(first)
        hi = _day_number(last) if last else (6 if first == "*" or step else lo)
        if hi < lo:
            raise ValueError(f"day of week range {part!r} runs backwards")
        if step is not None and int(step) == 0:
            raise ValueError("a step of 0 never advances")
        days.update(d % 7 for d in range(lo, hi + 1, int(step or 1)))
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _day_number(token: str) -> int:
    """0-7 (both 0 and 7 are Sunday) or a three-letter day name."""
    if token.isdigit():
        if int(token) > 7:
            raise ValueError(f"day of week {token} is not in 0-7")
        return int(token)
    if token in DAY_NAMES:
        return DAY_NAMES.index(token)
    raise ValueError(f"day of week {token!r} is not 0-7 or sun..sat")


def _convert(value: str, annotation: Any) -> Any:
    if callable(getattr(annotation, "parse", None)):  # a type that reads its own text
        return annotation.parse(value)
    if annotation in (int, "int"):
        return int(value)
    if annotation in (float, "float"):
        return float(value)
    if annotation in (bool, "bool"):
        if value.lower() not in ("yes", "no", "true", "false", "1", "0"):
            raise ValueError("want yes or no")
        return value.lower() in ("yes", "true", "1")
    return value


def parse_crontab(path: Path, jobs: dict[str, Callable[..., Any]], tz: ZoneInfo) -> list[CronEntry]:
    """Read and check the whole file; raise CrontabError listing every bad line."""
    return parse_crontab_text(path, decode_crontab(path, read_crontab(path)), jobs, tz)


def read_crontab(path: Path) -> bytes:
    """The file's bytes, from a regular file of at most MAX_CRONTAB_BYTES only: a FIFO would
    block the reader for ever and a link to /dev/zero would fill memory. Opened without
    blocking, so a FIFO is refused instead of waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise CrontabError([f"{path}: cannot read crontab ({exc.strerror})"]) from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(file.fileno()).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                    or stat.S_ISBLK(mode) else "a directory" if stat.S_ISDIR(mode) else "a socket")
            raise CrontabError([f"{path}: cannot read crontab (it is {kind}, not a regular "
                                "file)"])
        data = file.read(MAX_CRONTAB_BYTES + 1)
    if len(data) > MAX_CRONTAB_BYTES:
        raise CrontabError([f"{path}: cannot read crontab (larger than "
                            f"{MAX_CRONTAB_BYTES // 1024} KiB; a crontab is a few lines)"])
    return data


def decode_crontab(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")  # -sig: a BOM from Notepad is fine
    except UnicodeDecodeError as exc:
        raise CrontabError([f"{path}: cannot read crontab (not UTF-8 text: byte "
                            f"{exc.object[exc.start]:#04x} at offset {exc.start})"]) from None


def parse_crontab_text(path: Path, text: str, jobs: dict[str, Callable[..., Any]],
                       tz: ZoneInfo) -> list[CronEntry]:
    entries, problems = [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            entries.append(parse_line(line, number, jobs, tz))
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}")
    if problems:
        raise CrontabError(problems)
    if not entries:
        raise CrontabError([f"{path}: no jobs (expected lines like '* * * * * poll_issues')"])
    return entries


def parse_line(line: str, number: int, jobs: dict[str, Callable[..., Any]],
               tz: ZoneInfo) -> CronEntry:
    words = line.split()
    if words[0].startswith("@"):
        if words[0] not in MACROS:
            raise ValueError(f"unknown macro {words[0]!r} (known: {', '.join(MACROS)})")
        words = MACROS[words[0]].split() + words[1:]
    if len(words) < 6:
        raise ValueError("expected 5 time fields and a job name: 'm h dom mon dow job [k=v ...]'")
    minute, hour, day, month, dow, name, *args = words
    if name not in jobs:
        raise ValueError(f"unknown job {name!r} (known: {', '.join(sorted(jobs))})")
    try:
        common = dict(minute=minute, hour=hour, month=month, timezone=tz)
        days = cron_day_of_week(dow)
        if day.startswith("*") or dow.startswith("*"):
            trigger: BaseTrigger = CronTrigger(day=day, day_of_week=days, **common)
        else:  # cron: either the day of month or the day of week matching is enough
            trigger = OrTrigger([CronTrigger(day=day, **common),
                                 CronTrigger(day_of_week=days, **common)])
    except ValueError as exc:
        raise ValueError(f"bad schedule {' '.join(words[:5])!r}: {exc}") from None
    return CronEntry(number, " ".join(words[:5]), name, job_kwargs(name, args, jobs), trigger)


def job_kwargs(name: str, args: list[str], jobs: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    """A job's `key=value` arguments, converted to its parameters' types (ValueError if bad)."""
    if name not in jobs:
        raise ValueError(f"unknown job {name!r} (known: {', '.join(sorted(jobs))})")
    params = {n: p for n, p in inspect.signature(jobs[name]).parameters.items() if n != "rt"}
    kwargs: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise ValueError(f"argument {arg!r} is not key=value")
        if key not in params:
            raise ValueError(f"job {name!r} takes no argument {key!r} "
                             f"(it takes: {', '.join(params) or 'none'})")
        try:
            kwargs[key] = _convert(value, params[key].annotation)
        except ValueError:
            kind = params[key].annotation
            raise ValueError(f"argument {key}={value!r} of job {name!r} is not a valid "
                             f"{getattr(kind, 'description', getattr(kind, '__name__', kind))}"
                             ) from None
    return kwargs


def build_scheduler(entries: list[CronEntry], jobs: dict[str, Callable[..., Any]], rt: Any,
                    tz: ZoneInfo) -> BackgroundScheduler:
    """A scheduler with one job per crontab line; a run that overlaps the previous one is
    skipped (the cursor makes the next run catch up)."""
    scheduler = BackgroundScheduler(timezone=tz, job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 30})
    apply_entries(scheduler, {}, entries, jobs, rt)
    return scheduler


def _signature(entry: CronEntry) -> str:
    return f"{entry.schedule} {entry.job} {sorted(entry.kwargs.items())}"


def apply_entries(scheduler: BaseScheduler, current: dict[str, str], entries: list[CronEntry],
                  jobs: dict[str, Callable[..., Any]], rt: Any) -> dict[str, str]:
    """Make the scheduler's jobs those of `entries`: a job whose line, schedule and arguments
    are unchanged keeps its next run; others are removed (a running one finishes) or added.
    `current` is what the last call returned (job id → signature); returns the new one."""
    wanted = {f"{e.job}@{e.line}": e for e in entries}
    for job_id, signature in current.items():
        if job_id not in wanted or _signature(wanted[job_id]) != signature:
            scheduler.remove_job(job_id)
    for job_id, entry in wanted.items():
        if current.get(job_id) != _signature(entry):
            scheduler.add_job(run_job, entry.trigger, args=(jobs[entry.job], entry.job, rt),
                              kwargs=entry.kwargs, id=job_id,
                              name=f"{entry.job} (line {entry.line})")
    return {job_id: _signature(entry) for job_id, entry in wanted.items()}


class CrontabWatcher:
    """Applies edits of the crontab to a running scheduler, as cron does: the file is re-read
    every `interval` seconds (and at once on `wake()`, which SIGHUP calls). A bad edit keeps the
    schedule that runs; its `FILE:LINE: reason` is logged once and kept in `error` (shown by
    /healthz) until the file is fixed. Each process watches its own file."""

    def __init__(self, path: Path, scheduler: BaseScheduler, entries: list[CronEntry],
                 jobs: dict[str, Callable[..., Any]], rt: Any, tz: ZoneInfo,
                 interval: float = 5.0) -> None:
        self.path, self.scheduler, self.jobs, self.rt, self.tz = path, scheduler, jobs, rt, tz
        self.interval = interval
        self.applied = {f"{e.job}@{e.line}": _signature(e) for e in entries}
        self.error: str | None = None
        self._waiting_logged = False
        self._stop = threading.Event()
        self._seen = self._look()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="relay-crontab", daemon=True)

    def _look(self) -> bytes | str:
        """The file's bytes, or why it cannot be read (a change either way is noticed)."""
        try:
            return read_crontab(self.path)
        except CrontabError as exc:
            return str(exc)

    def _settled(self, seen: bytes | str) -> bytes | str | None:
        """The file once it has stayed the same for SETTLE_SECONDS; None if it is still
        changing after SETTLE_AT_MOST_SECONDS (or the watcher is stopping)."""
        deadline = time.monotonic() + SETTLE_AT_MOST_SECONDS
        while not self._stop.wait(SETTLE_SECONDS):
            again = self._look()
            if again == seen:
                return seen
            if time.monotonic() > deadline:
                return None
            seen = again
        return None

    def check(self, force: bool = False) -> bool:
        """Re-read the file if it changed (or `force`); True when a new schedule was applied."""
        seen = self._look()
        if seen == self._seen and not force:
            return False
        settled = self._settled(seen)
        if settled is None:
            if not self._waiting_logged:
                log.warning("crontab %s is still being written; the running schedule stays "
                            "until it has stopped changing", self.path)
            self._waiting_logged = True
            return False  # _seen is left as it was: the next look tries again
        self._seen, self._waiting_logged = settled, False
        try:
            if isinstance(settled, str):
                raise CrontabError(settled.split("\n"))
            entries = parse_crontab_text(self.path, decode_crontab(self.path, settled),
                                         self.jobs, self.tz)
        except CrontabError as exc:
            if str(exc) != self.error:
                log.error("crontab not reloaded, the running schedule stays:\n%s", exc)
            self.error = str(exc)
            return False
        before = self.applied
        self.applied = after = apply_entries(self.scheduler, before, entries, self.jobs, self.rt)
        self.error = None
        changed = sorted(i for i in before.keys() & after.keys() if before[i] != after[i])
        log.info("crontab %s reloaded: added %s, removed %s, changed %s", self.path,
                 sorted(after.keys() - before.keys()) or "none",
                 sorted(before.keys() - after.keys()) or "none", changed or "none")
        return True

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            forced = self._wake.wait(self.interval or None)  # 0: only on wake()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check(force=forced)
            except Exception:  # the watcher must outlive any surprise; the schedule runs on
                log.exception("crontab check failed")

    def start(self) -> CrontabWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()


def run_job(func: Callable[..., Any], name: str, rt: Any, **kwargs: Any) -> None:
    """Run a job; a failure is one log line, never the end of the scheduler."""
    try:
        func(rt, **kwargs)
    except OperationalError as exc:  # a locked database: one plain line, no traceback
        log.error("job %s: the database is %s (%s); its next scheduled run will try again",
                  name, "busy" if is_busy(exc) else "unavailable",
                  type(getattr(exc, "orig", exc)).__name__)
    except Exception:
        log.exception("job %s failed; its next scheduled run will try again", name)
