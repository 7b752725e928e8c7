"""Opening a connection one layer at a time, each step with its own deadline, so a failure names
its layer (DNS, TCP, TLS, the endpoint call, the WebSocket handshake) in the system's or the
platform's own words.

The DNS look-up (getaddrinfo has no timeout) runs in a thread of its own that is given up at the
deadline; TCP and TLS run with socket timeouts; the handshake with websockets' own timeout. The
endpoint call is relay/http.py's `call`, with its whole-call deadline and its words. Writes on an
open connection time out too (SO_SNDTIMEO): a peer that vanished
fills the send buffer, and a write must then fail rather than hang the connection's thread.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import requests
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from websockets.http11 import Response
from websockets.sync.client import ClientConnection
from websockets.uri import parse_uri

from relay.connections.base import ConnectError
from relay import http

CLOSE_SECONDS = 1.0  # a closing handshake the peer does not answer is not waited for longer
MAX_FRAME_BYTES = 4 << 20  # bigger: websockets closes the connection (1009); a Link has its own,
# smaller limit for frames it skips
Step = Callable[[str, str], None]  # (layer, what went right): relay check's report


def remaining(deadline: float, layer: str, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ConnectError(layer, f"{what}: no answer in time")
    return left


def _errno_words(exc: BaseException) -> str:
    """An OSError's own words ("Connection refused"), else the exception's text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^)'\"]+)", text)
    return found[-1].strip() if found else (text or type(exc).__name__)


def resolve(host: str, port: int, deadline: float) -> list[tuple]:
    """getaddrinfo, given up at the deadline (it has no timeout of its own)."""
    try:
        ipaddress.ip_address(host)
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except ValueError:
        pass
    box: dict[str, object] = {}

    def look() -> None:
        try:
            box["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=look, name="relay-dns", daemon=True)
    thread.start()
    thread.join(remaining(deadline, "dns", host))
    if thread.is_alive():
        raise ConnectError("dns", f"{host}: no answer in time")
    if "error" in box:
        raise ConnectError("dns", f"{host}: {_errno_words(box['error'])}")  # type: ignore[arg-type]
    return box["found"]  # type: ignore[return-value]


def open_tcp(addresses: Iterable[tuple], host: str, port: int, deadline: float) -> socket.socket:
    """The first address that answers, each tried within what is left of the deadline."""
    error = f"{host}:{port}: no address"
    for family, kind, proto, _name, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(remaining(deadline, "tcp", f"{host}:{port}"))
            sock.connect(address)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            return sock
        except (TimeoutError, socket.timeout):
            error = f"{host}:{port}: no answer in time"
        except OSError as exc:
            error = f"{host}:{port}: {_errno_words(exc)}"
        sock.close()
    raise ConnectError("tcp", error)


def tls_context() -> ssl.SSLContext:
    """The CA bundle requests uses (REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else certifi's), so the
    WebSocket trusts what the endpoint call trusts."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle or DEFAULT_CA_BUNDLE_PATH)


def open_tls(sock: socket.socket, host: str, deadline: float,
             context: ssl.SSLContext | None = None) -> ssl.SSLSocket:
    try:
        sock.settimeout(remaining(deadline, "tls", host))
        return (context or tls_context()).wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise ConnectError("tls", f"{host}: certificate verify failed: "
                                  f"{exc.verify_message or exc.reason}") from None
    except ssl.SSLError as exc:
        sock.close()
        raise ConnectError("tls", f"{host}: {exc.reason or exc}") from None
    except (TimeoutError, socket.timeout):
        sock.close()
        raise ConnectError("tls", f"{host}: no answer in time") from None
    except OSError as exc:
        sock.close()
        raise ConnectError("tls", f"{host}: {_errno_words(exc)}") from None


def bound_writes(sock: socket.socket, seconds: float) -> None:
    """A write that cannot go out within `seconds` fails (SO_SNDTIMEO) instead of hanging."""
    whole = max(int(seconds), 0)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                        struct.pack("ll", whole, int((seconds - whole) * 1e6)))
    except (OSError, struct.error):  # not on every system: the watchdog still closes it
        pass


def refusal_words(response: Response) -> str:
    body = response.body.decode("utf-8", "replace").strip()[:200] if response.body else ""
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {body}" if body else "")


def dial(url: str, deadline: float, *, headers: Iterable[tuple[str, str]] = (),
         user_agent: str = "relay", write_seconds: float = 10.0,
         refusal: Callable[[Response], str] | None = None, step: Step | None = None,
         context: ssl.SSLContext | None = None) -> ClientConnection:
    """The WebSocket at `url`, opened layer by layer; ConnectError names the one that failed."""
    step = step or (lambda layer, words: None)
    sock = probe(url, deadline, step=step, context=context)
    bound_writes(sock, write_seconds)
    try:
        protocol = ClientProtocol(parse_uri(url), max_size=MAX_FRAME_BYTES)
    except WebSocketException as exc:
        sock.close()
        raise ConnectError("websocket", f"not a WebSocket URL: {exc}") from None
    sock.settimeout(None)  # websockets reads in a thread of its own, blocking
    conn = ClientConnection(sock, protocol, ping_interval=None, ping_timeout=None,
                            close_timeout=CLOSE_SECONDS)
    try:
        conn.handshake(list(headers) or None, user_agent,
                       remaining(deadline, "websocket", "the handshake"))
    except InvalidStatus as exc:
        words = (refusal or refusal_words)(exc.response)
        raise ConnectError("websocket", words) from None
    except (TimeoutError, socket.timeout):
        raise ConnectError("websocket", "the handshake: no answer in time") from None
    except (InvalidHandshake, WebSocketException, OSError) as exc:
        raise ConnectError("websocket", f"the handshake: {_errno_words(exc)}") from None
    finally:
        if conn.protocol.handshake_exc is not None or conn.response is None:
            abort(conn)
    step("websocket", f"{urlsplit(url).hostname}: handshake accepted")
    return conn


def probe(url: str, deadline: float, *, step: Step | None = None,
          context: ssl.SSLContext | None = None) -> socket.socket:
    """DNS, TCP and (for https/wss) TLS to `url`'s host: the connected socket."""
    step = step or (lambda layer, words: None)
    parts = urlsplit(url)
    secure = parts.scheme in ("https", "wss")
    host = parts.hostname or ""
    if not host or parts.scheme not in ("http", "https", "ws", "wss"):
        raise ConnectError("dns", f"{url[:80]!r} names no host")
    port = parts.port or (443 if secure else 80)
    addresses = resolve(host, port, deadline)
    step("dns", f"{host} → {addresses[0][4][0]}")
    sock = open_tcp(addresses, host, port, deadline)
    step("tcp", f"{host}:{port} connected")
    if secure:
        sock = open_tls(sock, host, deadline, context)
        step("tls", f"{host}: {sock.version()}, certificate accepted")
    return sock


def abort(conn: ClientConnection) -> None:
    """Close at once, without a closing handshake (the peer may be gone)."""
    try:
        conn.socket.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close_socket()


# -- the endpoint call ----------------------------------------------------------------------------

def http_call(session: requests.Session, method: str, url: str, deadline: float,
              **kwargs: object) -> requests.Response:
    """One endpoint call, whole by `deadline`; a failure is a ConnectError naming its layer
    (an answer that never came whole counts as the endpoint's)."""
    where = urlsplit(url).hostname or "?"
    seconds = remaining(deadline, "endpoint", where)
    try:
        return http.call(session, method, url, timeout=seconds, **kwargs)  # type: ignore[arg-type]
    except http.CallFailed as exc:
        layer, words = ("endpoint" if exc.layer == "answer" else exc.layer), str(exc)
        raise ConnectError(layer, words if where in words else f"{where}: {words}") from None
