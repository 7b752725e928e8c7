"""Every HTTP call relay makes (Guance, each chat platform, a URL a peer handed it) goes through
`call`, on requests: one timeout meaning, one way to fail, one guard for URLs from outside.

- The timeout is a deadline for the whole call, from connect to the answer's last byte, however
  slowly a peer drips it (the DNS look-up is the system resolver's). requests' own timeout is
  per socket operation, so at the deadline a timer shuts down the socket the call uses (urllib3's
  own way to stop a read from another thread) and the call ends.
- No redirect is followed: a webhook that redirects is set up wrong, and a followed redirect
  would leave the URL guard behind. HTTP/1.1, connections kept alive, the same path with or
  without proxy variables (requests reads them, and REQUESTS_CA_BUNDLE).
- A failure is `CallFailed`, whose text says what went wrong in words a person understands
  ("DNS lookup failed for …", "connection refused", "TLS handshake failed: certificate verify
  failed: …", "no answer in 10 s", "connection reset") and never the URL: a webhook's token is
  in it.
- A URL from outside passes a `UrlGuard`: https on an allowed host, and then a public address
  (checked on the connected socket, so a name resolving elsewhere at connect time is caught).
"""

from __future__ import annotations

import contextlib
import heapq
import ipaddress
import os
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from http.client import IncompleteRead, RemoteDisconnected
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NameResolutionError, ProxyError

MAX_ANSWER_BYTES = 1 << 20  # a chat platform's answer is a few hundred bytes; more is not read


class CallFailed(Exception):
    """A call that got no answer, in words a person understands (str(exc)). `timed_out`: the
    request may have arrived, its answer did not (whole) in time."""

    def __init__(self, words: str, timed_out: bool = False) -> None:
        super().__init__(words)
        self.timed_out = timed_out


def http_session() -> requests.Session:
    """A session whose calls `call` can hold to a deadline. With `trust_env` requests looks up
    the proxy variables on every call; with none set there is nothing to find, so the CA bundle
    variables are read once and the look-ups turned off (a proxy set later needs a restart)."""
    session = requests.Session()
    if not urllib.request.getproxies():
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    for prefix in ("http://", "https://"):
        session.mount(prefix, DeadlineAdapter())
    return session


def call(session: requests.Session, method: str, url: str, *, timeout: float,
         guard: UrlGuard | None = None, max_bytes: int = MAX_ANSWER_BYTES,
         **kwargs: Any) -> requests.Response:
    """One request (`kwargs` as requests takes them: json, data, params, headers), its whole
    answer read within `timeout` seconds and at most `max_bytes`; raises CallFailed."""
    public_only = guard.admit(url) if guard is not None else False
    with contextlib.suppress(requests.exceptions.InvalidSchema):
        if not isinstance(session.get_adapter(url), DeadlineAdapter):  # a caller's own session
            session.mount(url.split("://", 1)[0] + "://", DeadlineAdapter())
    deadline = Deadline(timeout, public_only)
    try:
        with deadline:
            resp = session.request(method, url, timeout=timeout, allow_redirects=False,
                                   stream=True, **kwargs)
            try:
                resp._content = _whole_answer(resp, max_bytes)
            finally:
                resp.close()
    except CallFailed:
        if deadline.expired:
            raise _no_answer(timeout) from None
        raise
    except (requests.RequestException, OSError) as exc:
        raise (_no_answer(timeout) if deadline.expired or isinstance(exc, requests.ReadTimeout)
               else CallFailed(_words(exc, timeout, url))) from None
    if deadline.expired:  # the peer closed a body of unknown length as the deadline struck
        raise _no_answer(timeout)
    return resp


def _no_answer(timeout: float) -> CallFailed:
    return CallFailed(f"no answer in {timeout:g} s", timed_out=True)


def _whole_answer(resp: requests.Response, max_bytes: int) -> bytes:
    chunks, size = [], 0
    for chunk in resp.iter_content(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise CallFailed(f"answer over {max_bytes / (1 << 20):g} MB, not read")
        chunks.append(chunk)
    return b"".join(chunks)


# -- the deadline --------------------------------------------------------------------------------

_calls = threading.local()  # .deadline: that of the call this thread is making


class Deadline:
    """One call's whole-call deadline: the connections the call uses hand over their socket,
    and at the deadline the watchdog shuts it down, which ends the call with an error."""

    def __init__(self, seconds: float, public_only: bool = False) -> None:
        self.seconds = seconds
        self.public_only = public_only  # a guarded URL: its peer must be a public address
        self.expired, self._done, self._sock = False, False, None
        self._lock = threading.Lock()

    def __enter__(self) -> Deadline:
        _calls.deadline = self
        _watchdog.watch(self, time.monotonic() + self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done, self._sock = True, None  # the watchdog coming to it now finds it done
        _calls.deadline = None

    def using(self, sock: socket.socket) -> None:
        """The call goes on over `sock` now (a new connection, or a kept-alive one)."""
        with self._lock:
            self._sock = sock
            self._stop_if_expired()

    def expire(self) -> None:
        with self._lock:
            if not self._done:
                self.expired = True
                self._stop_if_expired()

    def _stop_if_expired(self) -> None:
        if self.expired and self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One thread for every call's deadline (a timer thread a call would cost more than the
    rest of it): it sleeps until the earliest deadline and expires the calls still going."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Deadline]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline, at: float) -> None:
        with self._wake:
            heapq.heappush(self._due, (at, id(deadline), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="relay-http-deadlines",
                                                daemon=True)
                self._thread.start()
            elif self._due[0][2] is deadline:  # sooner than it sleeps for
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, deadline = heapq.heappop(self._due)
            deadline.expire()  # a finished call's is a no-op


_watchdog = _Watchdog()


class _Watched:
    """A urllib3 connection that hands its socket to the thread's Deadline, and refuses a
    guarded call's peer that is not a public address."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        deadline = getattr(_calls, "deadline", None)
        if deadline is not None:
            if deadline.public_only and not self.proxy:  # type: ignore[attr-defined]
                _refuse_private_peer(sock, self.host)  # type: ignore[attr-defined]
            deadline.using(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> Any:
        deadline = getattr(_calls, "deadline", None)
        if deadline is not None and self.sock is not None:  # type: ignore[attr-defined]
            deadline.using(self.sock)  # type: ignore[attr-defined]
        return super().request(*args, **kwargs)  # type: ignore[misc]


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections a Deadline can stop (through an HTTP proxy too; a
    SOCKS proxy's connections keep requests' per-read timeout only)."""

    pools = {"http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": type(
                 "Connection", (_Watched, HTTPConnection), {})}),
             "https": type("Pool", (HTTPSConnectionPool,), {"ConnectionCls": type(
                 "Connection", (_Watched, HTTPSConnection), {})})}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pools

    def proxy_manager_for(self, proxy: str, **kwargs: Any):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:  # not SOCKS
            manager.pool_classes_by_scheme = self.pools
        return manager


# -- the words -----------------------------------------------------------------------------------

def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and all it wraps (requests wraps urllib3's, which wrap the socket's)."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None),
                 getattr(e, "original_error", None), *e.args]
    return seen


def _words(exc: BaseException, timeout: float, url: str) -> str:
    """What went wrong, when it was not the deadline."""
    causes = _causes(exc)
    via = "proxy: " if any(isinstance(e, (ProxyError, requests.exceptions.ProxyError))
                           for e in causes) else ""
    for e in causes:
        if isinstance(e, (NameResolutionError, socket.gaierror)):
            host = urlsplit(url).hostname or "?"
            return f"{via}DNS lookup failed for {host}"
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"{via}TLS handshake failed: certificate verify failed: " \
                   f"{e.verify_message or e.reason}"
        if isinstance(e, ssl.SSLError):
            reason = (e.reason or str(e)).lower().replace("_", " ")
            return f"{via}TLS handshake failed: {reason}"
    if isinstance(exc, requests.ConnectTimeout):
        return f"{via}no connection in {timeout:g} s"
    for e in causes:
        if isinstance(e, ConnectionRefusedError):
            return f"{via}connection refused"
        if isinstance(e, (RemoteDisconnected, IncompleteRead)):  # (a ConnectionResetError)
            return f"{via}connection closed before the whole answer"
        if isinstance(e, (ConnectionResetError, BrokenPipeError)):
            return f"{via}connection reset"
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return "not a valid http(s) URL"
    errnos = [e.errno for e in causes if isinstance(e, OSError) and e.errno]
    if errnos:  # "network is unreachable", "no route to host"…
        return f"{via}{os.strerror(errnos[0]).lower()}"
    return f"{via}request failed ({type(exc).__name__})"  # str(exc) could hold the URL


# -- URLs from outside ---------------------------------------------------------------------------

@dataclass(frozen=True)
class UrlGuard:
    """What a URL a peer handed relay must be before relay calls it: https on the default port,
    on one of `hosts` or a host under one, no user part, and its peer a public address (not
    private, loopback, link-local…); or on one of `origins` (`scheme://host:port`, named by the
    admin), taken as named, any address."""

    hosts: tuple[str, ...]
    origins: frozenset[str] = frozenset()

    def admit(self, url: str) -> bool:
        """Raises CallFailed for a URL not to be called; True when its peer must be public."""
        if not url.isascii() or any(c.isspace() or c == "\\" for c in url):
            raise CallFailed("refused: not a plain URL")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise CallFailed("refused: not a valid URL") from None
        if "@" in parts.netloc:
            raise CallFailed("refused: the URL has a user part")
        if f"{parts.scheme}://{parts.netloc}".lower() in self.origins:
            return False
        host = (parts.hostname or "").lower()
        if not any(host == h or host.endswith("." + h) for h in self.hosts):
            raise CallFailed(f"refused: {host or '?'} is not an allowed host")
        if parts.scheme != "https" or port not in (None, 443):
            raise CallFailed("refused: not https on port 443")
        return True

    def admits(self, url: str) -> bool:
        try:
            self.admit(url)
        except CallFailed:
            return False
        return True


def _refuse_private_peer(sock: socket.socket, host: str) -> None:
    """Close `sock` and refuse the call when its peer is not a public address."""
    address = ipaddress.ip_address(sock.getpeername()[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_global:
        return
    kind = "loopback" if address.is_loopback else "private" if address.is_private else "reserved"
    sock.close()
    raise CallFailed(f"refused: {host} is at {address}, a {kind} address")
