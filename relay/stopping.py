"""How every long or one-shot command stops on SIGTERM/SIGINT: `rt.stopping` is set, so a running
job finishes the send (or page) in progress, records it and ends; killed mid-send, a card the
platform took would go out again, and a job left running would hold the process for its run."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

log = logging.getLogger("relay")


def stop_on_signals(rt: Any, then: Callable[[], None] | None = None) -> None:
    """On SIGTERM or SIGINT set `rt.stopping`, then call `then` (from another thread: a handler
    runs inside whatever loop the main thread is in, e.g. the server loop `then` ends)."""

    def on_signal(signum: int, _frame: Any) -> None:
        if not rt.stopping.is_set():
            log.warning("%s: finishing what is in progress, then stopping",
                        signal.Signals(signum).name)
        rt.stopping.set()
        if then is not None:
            threading.Thread(target=then, name="relay-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
