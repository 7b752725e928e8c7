"""Progress of a long `relay poll --since` backfill on stderr: one line rewritten in place on a
terminal, plain lines (one per page and per wait) when stderr is a file or a pipe."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class BackfillProgress:
    """Hears the Guance client's "page" and "wait" events (GuanceClient.progress)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.pages = self.issues = 0
        self._channel_issues: dict[str, int] = {}
        self._last = ""

    def __call__(self, event: str, **info: Any) -> None:
        if event == "page":
            self.pages += 1
            self._channel_issues[info["channel"]] = info["received"]
            self.issues = sum(self._channel_issues.values())
            of = f" of {info['pages']}" if info.get("pages") else ""
            self._last = (f"backfill: {info['channel']} page {info['page']}{of}; "
                          f"{self.pages} page(s), {self.issues} issue(s) read")
            self._show(self._last)
        elif event == "wait":
            note = f"waiting {info['seconds']:.0f} s for the Guance call budget"
            self._show(f"{self._last} ({note})" if self.live and self._last
                       else f"backfill: {note}")

    def _show(self, text: str) -> None:
        if self.live:
            self.stream.write("\r\x1b[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live and self.pages:
            self.stream.write("\n")
            self.stream.flush()
