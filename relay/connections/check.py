"""`check(link)`: open one connection once, layer by layer, for `relay check`: the endpoint
call's host (DNS, TCP, TLS), the call itself (auth: the platform's own words when it refuses),
the WebSocket's host (DNS, TCP, TLS), its handshake, and whether the server then keeps the
connection and answers a ping (subscription). The first layer that fails ends the report, so
"connection failed" is never the whole story. Frames that arrive meanwhile are not acted on and
not acknowledged: the platform pushes them again to a serving connection."""

from __future__ import annotations

import time

from websockets.exceptions import ConnectionClosed, WebSocketException

from relay.connections.base import ConnectError, Link
from relay.connections.dial import abort, dial, probe
from relay.connections.loop import OPEN_SECONDS, UA, closing_words

SETTLE_SECONDS = 5.0  # how long the check waits for the server to answer its ping
Row = tuple[str, bool, str]


def check(link: Link, seconds: float = OPEN_SECONDS,
          settle: float = SETTLE_SECONDS) -> list[Row]:
    """(layer, ok, words) for each layer reached, the failing one last."""
    rows: list[Row] = []

    def step(layer: str, words: str) -> None:
        rows.append((layer, True, words))

    try:
        if getattr(link, "endpoint_url", ""):
            probe(link.endpoint_url, time.monotonic() + seconds, step=step).close()
        endpoint = link.open(time.monotonic() + seconds)
        step("auth", "the endpoint call accepted the app's credentials")
        ws = dial(endpoint.url, time.monotonic() + seconds, headers=endpoint.headers,
                  user_agent=UA, refusal=getattr(link, "refusal", None), step=step)
    except ConnectError as exc:
        rows.append((exc.layer, False, exc.words))
        return rows
    try:
        rows.append(_answers(link, ws, settle))
    finally:
        abort(ws)
    return rows


def _answers(link: Link, ws, settle: float) -> Row:
    """The server keeps the connection and answers a ping within `settle` seconds."""
    deadline = time.monotonic() + settle
    try:
        frame = link.ping_frame()
        pong = ws.ping() if frame is None else None
        if frame is not None:
            ws.send(frame)
        while (left := deadline - time.monotonic()) > 0:
            if pong is not None and pong.is_set():
                return ("subscription", True, "the server keeps the connection and answers pings")
            try:
                ws.recv(timeout=min(left, 0.1))
                return ("subscription", True, "the server keeps the connection and sends frames")
            except TimeoutError:
                continue
    except ConnectionClosed as exc:
        return ("subscription", False, f"the server closed the connection: {closing_words(exc)}")
    except (WebSocketException, OSError) as exc:
        return ("subscription", False, f"{type(exc).__name__}: {exc}")
    return ("subscription", False, f"no answer to a ping within {settle:g} s")
