"""The long connections relay opens itself (Feishu's long connection, DingTalk's Stream), so no
chat platform needs to reach relay: one layer for every platform (docs/connections.md).

A platform writes a `Link`; `Connection` keeps it open (deadlines, watchdog, reconnects) and
shows its health; `check` opens it once for `relay check`. Imports no platform.
"""

from relay.connections.base import Answer, ConnectError, Endpoint, Link
from relay.connections.check import check
from relay.connections.dial import http_call
from relay.connections.loop import Connection

__all__ = ["Answer", "ConnectError", "Connection", "Endpoint", "Link", "check",
           "http_call"]
