"""A TCP proxy on 127.0.0.1 that can fail the way networks do, for the long-connection tests,
the benchmarks and the sandbox: `half_open()` stops passing bytes either way on the connections
open now but keeps their sockets (a peer that vanished: the client's socket still says OPEN, its
pings get no pong); `cut()` closes them. New connections pass as before."""

from __future__ import annotations

import contextlib
import socket
import threading


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.frozen = threading.Event()

    def close(self) -> None:
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class FaultyProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="faulty-proxy", daemon=True).start()

    def url(self, scheme: str = "ws", path: str = "/connect") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def half_open(self) -> int:
        """Freeze every connection open now; how many."""
        with self._lock:
            live = [p for p in self.pairs if not p.frozen.is_set()]
            for pair in live:
                pair.frozen.set()
        return len(live)

    def cut(self) -> None:
        with self._lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            pair.close()

    def stop(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                if self._closed:
                    return
                continue
            server.settimeout(None)
            pair = _Pair(client, server)
            with self._lock:
                self.pairs.append(pair)
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(pair, src, dst), daemon=True).start()

    @staticmethod
    def _pump(pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if pair.frozen.is_set():
                    continue  # swallowed: the other side hears nothing, ever
                dst.sendall(data)
        except OSError:
            pass
        if not pair.frozen.is_set():
            pair.close()
