"""One StemDeck window per user: `stemdeck song.wav` while the app is open adds the song to the
running window's queue instead of starting a second app.

The first instance listens on a local socket (`QLocalServer`, a Unix socket or named pipe that
only this user may open) named after the user and the StemDeck home, so a test run with its own
home never talks to the user's real window. A later `stemdeck FILES` connects, sends one JSON
line `{"open": [absolute paths]}`, waits for "ok" and exits. A socket left behind by a crashed
instance is removed when the next instance starts listening.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

logger = logging.getLogger(__name__)

TIMEOUT_MS = 2000


def server_name() -> str:
    """The socket name of this user's StemDeck (per StemDeck home)."""
    from .cache import stemdeck_home

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    digest = hashlib.sha1(f"{user}\0{os.path.abspath(stemdeck_home())}".encode()).hexdigest()[:12]
    return f"stemdeck-{digest}"


def send_to_running(paths: list[str | Path], name: str | None = None, timeout_ms: int = TIMEOUT_MS) -> bool:
    """Hand `paths` to a running StemDeck; True when one took them (an empty list raises its
    window). False at once when none is running."""
    socket = QLocalSocket()
    socket.connectToServer(name or server_name())
    if not socket.waitForConnected(timeout_ms):
        return False
    message = json.dumps({"open": [os.path.abspath(p) for p in paths]}) + "\n"
    socket.write(message.encode("utf-8"))
    if not socket.waitForBytesWritten(timeout_ms):
        socket.abort()
        return False
    reply = b""
    while not reply.endswith(b"\n") and socket.waitForReadyRead(timeout_ms):
        reply += bytes(socket.readAll().data())
    socket.disconnectFromServer()
    return reply.strip() == b"ok"


class InstanceServer(QObject):
    """Listens for later `stemdeck FILES` calls; `files_received(list[str])` on the GUI thread."""

    files_received = Signal(list)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self._buffers: dict[int, bytes] = {}

    def listen(self) -> bool:
        """Start listening (removing a socket left by a crashed instance); False if impossible."""
        if self.server.listen(self.name):
            return True
        if self.server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
            QLocalServer.removeServer(self.name)
            if self.server.listen(self.name):
                return True
        logger.warning("single instance: cannot listen on %s: %s", self.name, self.server.errorString())
        return False

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        key = id(socket)
        data = self._buffers.get(key, b"") + bytes(socket.readAll().data())
        if not data.endswith(b"\n"):
            self._buffers[key] = data
            return
        self._buffers.pop(key, None)
        try:
            paths = [str(p) for p in json.loads(data.decode("utf-8")).get("open", [])]
        except (ValueError, AttributeError, TypeError):
            logger.warning("single instance: ignored a malformed message")
            socket.write(b"error\n")
            return
        socket.write(b"ok\n")
        socket.flush()
        logger.info("single instance: asked to open %d path(s)", len(paths))
        self.files_received.emit(paths)


def serve_window(window, name: str | None = None) -> InstanceServer:
    """Listen for later `stemdeck FILES` calls and queue their files in `window`, raising it."""
    server = InstanceServer(name, window)

    def received(paths: list[str]) -> None:
        if window.isMinimized():
            window.showNormal()
        window.raise_()
        window.activateWindow()
        if paths:
            window.open_paths(paths)

    server.files_received.connect(received)
    server.listen()
    return server
