"""The `relay` command. Exit codes: 0 fine, 1 the work failed, 2 a setting or file is wrong."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import OperationalError

from relay.admin.outbox import cmd_deliveries, cmd_migrate, cmd_redeliver
from relay.config import ConfigError, Settings, load_settings
from relay.store.outbox import LISTED_STATUSES

log = logging.getLogger("relay")


def parse_since(value: str) -> int:
    """Unix seconds, or an ISO date/time (local time of RELAY_TIMEZONE unless it has an offset)."""
    if value.isdigit():
        return int(value)
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither Unix seconds nor an ISO time like 2026-11-25T09:00") from None
    return int(when.timestamp()) if when.tzinfo else int(
        when.replace(tzinfo=load_settings().tz).timestamp())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay", description=(
        "Relay Guance issues to Feishu, DingTalk and WeCom groups, and replies back to the "
        "issues."))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="scheduler (from the crontab) and reply endpoint in one process")
    sub.add_parser("serve", help="only the reply endpoint, under waitress")
    poll = sub.add_parser("poll", help="poll once (and deliver), then exit")
    poll.add_argument("--since", type=parse_since,
                      help="read issues created since this time (Unix s or ISO), e.g. a backfill")
    poll.add_argument("--no-deliver", action="store_true", help="only queue, do not send")
    sub.add_parser("deliver", help="send what is due in the outbox once, then exit")
    listing = sub.add_parser("deliveries", help="list outbox rows as a table")
    listing.add_argument("--status", choices=LISTED_STATUSES)
    listing.add_argument("--limit", type=int, default=50)
    again = sub.add_parser("redeliver", help="put deliveries back in the queue")
    again.add_argument("ids", nargs="*", type=int, metavar="ID")
    again.add_argument("--dead", action="store_true", help="every dead delivery")
    sub.add_parser("migrate", help="apply database migrations (RELAY_DATABASE_URL)")
    sandbox = sub.add_parser("sandbox", help="the whole round trip against local fakes")
    sandbox.add_argument("--crontab", type=Path, default=None, help=argparse.SUPPRESS)
    sandbox.add_argument("--keep", action="store_true",
                         help="keep the fakes and relay running afterwards, until Ctrl-C")
    check = sub.add_parser("check-crontab", help="validate a crontab file")
    check.add_argument("file", type=Path)
    sub.add_parser("config", help="the effective settings and where each came from")
    sub.add_parser("check", help="check the settings, Guance and the destinations' shape")
    test = sub.add_parser("send-test", help="send one test card to a destination")
    test.add_argument("destination", help="a destination's name ('default' for the webhook)")
    job = sub.add_parser("run-job", help="run one crontab job once, now, as the scheduler would")
    job.add_argument("name", help="a job name as the crontab writes it, e.g. track_issues")
    job.add_argument("args", nargs="*", metavar="key=value")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"relay: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:  # one line, never a traceback (nor the URL's password)
        from relay.store.base import is_busy

        if is_busy(exc):
            print("relay: the database is busy (another process holds its write lock); "
                  "nothing was lost, try again", file=sys.stderr)
        else:
            print(f"relay: the database does not answer ({type(getattr(exc, 'orig', exc)).__name__}"
                  "); check RELAY_DATABASE_URL", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _runtime(settings: Settings):
    from relay.config.settings import exposed_config_file
    from relay.logs import Redactor, setup_logging
    from relay.runtime import Runtime

    setup_logging(Redactor(settings.secrets()), fmt=settings.log_format)
    if warning := exposed_config_file():
        log.warning(warning)
    return Runtime(settings)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from relay.sandbox.demo import run_sandbox

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    crontab = args.crontab or (Path("crontab.example") if Path("crontab.example").exists() else None)
    return run_sandbox(crontab, keep=args.keep)


def cmd_config(args: argparse.Namespace) -> int:
    from relay.admin.show_config import show_config

    return show_config()


def cmd_check(args: argparse.Namespace) -> int:
    from relay.admin.check import run_check

    return run_check()


def cmd_send_test(args: argparse.Namespace) -> int:
    from relay.admin.send_test import run_send_test

    return run_send_test(args.destination)


def cmd_check_crontab(args: argparse.Namespace) -> int:
    from jobs import JOBS
    from relay.pipeline.schedule import CrontabError, parse_crontab

    try:
        entries = parse_crontab(args.file, JOBS, load_settings().tz)
    except CrontabError as exc:
        print(exc, file=sys.stderr)
        return 2
    for entry in entries:
        extra = " ".join(f"{k}={v}" for k, v in entry.kwargs.items())
        print(f"{args.file}:{entry.line}: {entry.schedule}  {entry.job} {extra}".rstrip())
    return 0


def cmd_run_job(args: argparse.Namespace) -> int:
    """One job, its arguments checked like a crontab line's; exit 1 when the job raised."""
    from jobs import JOBS
    from relay.pipeline.schedule import job_kwargs

    try:
        kwargs = job_kwargs(args.name, args.args, JOBS)
    except ValueError as exc:
        print(f"relay run-job: {exc}", file=sys.stderr)
        return 2
    rt = _one_shot(load_settings())
    try:
        JOBS[args.name](rt, **kwargs)
    except ConfigError:
        raise
    except Exception:
        log.exception("job %s failed", args.name)
        return 1
    finally:
        rt.close()
    print(f"relay run-job: {args.name} done")
    return 0


def _one_shot(settings):
    """The runtime of a command that runs once (poll, deliver, run-job), stopping on signals."""
    from relay.runtime import stop_on_signals

    rt = _runtime(settings)
    stop_on_signals(rt)
    return rt


def cmd_poll(args: argparse.Namespace) -> int:
    from relay.pipeline.deliver import deliver
    from relay.pipeline.poll import poll

    settings = load_settings()
    settings.require("guance_api_key")
    rt = _one_shot(settings)
    progress = None
    if args.since is not None:  # a backfill can be long: show how it goes
        from relay.admin.progress import BackfillProgress

        rt.guance.progress = progress = BackfillProgress()
    report = poll(rt, since=args.since)
    if progress is not None:
        progress.done()
    print(f"poll: {len(report.polled)} channel(s) read, {report.issues_seen} issue(s) seen, "
          f"{report.new_rows} new deliveries; failed: {', '.join(report.failed) or 'none'}")
    if not args.no_deliver and not rt.stopping.is_set():
        sent = deliver(rt)
        print(f"deliver: {sent.sent} sent, {sent.failed} failed")
    rt.close()
    return 1 if report.failed else 0


def cmd_deliver(args: argparse.Namespace) -> int:
    from relay.pipeline.deliver import deliver

    rt = _one_shot(load_settings())
    report = deliver(rt)
    print(f"deliver: {report.sent} sent, {report.failed} failed, {report.dead} dead")
    rt.close()
    return 0


def _serve_forever(rt, scheduler=None) -> int:
    from relay.web.app import create_app
    from relay.runtime import stop_on_signals
    from relay.web.server import WebServer

    settings = rt.settings
    web = WebServer(create_app(rt), settings.host, settings.port)

    stop_on_signals(rt, then=web.stop)
    log.info("listening on %s", web.url)
    try:
        web.run()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        rt.close()
    log.info("relay stopped")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    settings.require("guance_api_key")
    return _serve_forever(_runtime(settings))


def cmd_run(args: argparse.Namespace) -> int:
    from jobs import JOBS
    from relay.pipeline.schedule import CrontabError, CrontabWatcher, build_scheduler, parse_crontab

    settings = load_settings()
    settings.require("guance_api_key")
    settings.routing()
    try:
        entries = parse_crontab(settings.crontab, JOBS, settings.tz)
    except CrontabError as exc:
        print(exc, file=sys.stderr)
        return 2
    rt = _runtime(settings)
    scheduler = build_scheduler(entries, JOBS, rt, settings.tz)
    scheduler.start()
    log.info("scheduler started from %s: %s", settings.crontab,
             ", ".join(f"{e.job} '{e.schedule}'" for e in entries))
    # an edited crontab applies within 5 s, or at once on SIGHUP
    rt.crontab_watcher = CrontabWatcher(settings.crontab, scheduler, entries, JOBS, rt,
                                        settings.tz, settings.crontab_reload_seconds).start()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: rt.crontab_watcher.wake())
    try:
        return _serve_forever(rt, scheduler)
    finally:
        rt.crontab_watcher.stop()


COMMANDS = {"run": cmd_run, "serve": cmd_serve, "poll": cmd_poll, "deliver": cmd_deliver,
            "deliveries": cmd_deliveries, "redeliver": cmd_redeliver, "migrate": cmd_migrate,
            "sandbox": cmd_sandbox, "check-crontab": cmd_check_crontab, "config": cmd_config,
            "check": cmd_check, "send-test": cmd_send_test, "run-job": cmd_run_job}

if __name__ == "__main__":
    sys.exit(main())
