"""A minimal RESP2 client: one socket, pipelines of raw commands, hiredis parsing.

Scans, inspect and check send read commands only (scanner.READ_ONLY_COMMANDS); the one caller
that writes is `sessdiag fixtures make redis://…` (sessdiag.fixture_redis), into an empty db.

Why not redis-py's pipeline: a scan sends millions of tiny commands, and redis-py's per-command
Python overhead (command objects, response callbacks) dominates. Here a pipeline is one
``sendall`` of pre-packed commands and one loop of ``hiredis.Reader.gets``; error replies come
back as values (``hiredis.ReplyError``) so one refused command never aborts a batch.

Only the commands the caller gives are ever sent; the connection handshake is ``AUTH`` (when a
password is set) and ``SELECT`` (db ≠ 0), nothing else (no CLIENT SETINFO, no HELLO), so an
ACL user restricted to read commands can run a scan.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Sequence

import hiredis

from sessdiag.core.errors import StoreRefused, TargetUnreadable
from sessdiag.stores.redis.target import RedisTarget

ReplyError = hiredis.ReplyError
_pack = hiredis.pack_command
RECV = 1 << 20


class RedisConn:
    def __init__(self, target: RedisTarget, timeout: float = 30.0) -> None:
        self.target = target
        self.location = target.location
        self.commands = 0
        self.sock = self._open(target, timeout)
        self.reader = hiredis.Reader()
        if target.password is not None:
            args = ["AUTH", target.username, target.password] if target.username else [
                "AUTH", target.password]
            r = self.pipeline([args])[0]
            if isinstance(r, ReplyError):
                self.close()
                raise StoreRefused(f"{self.location}: authentication failed "
                                   f"({_first_word(r)})")
        if target.db:
            r = self.pipeline([["SELECT", str(target.db)]])[0]
            if isinstance(r, ReplyError):
                self.close()
                raise TargetUnreadable(f"{self.location}: cannot select db {target.db}: "
                                       f"{_safe(r)}")

    def _open(self, t: RedisTarget, timeout: float) -> socket.socket:
        try:
            if t.scheme == "unix":
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(t.path or "")
            else:
                s = socket.create_connection((t.host, t.port), timeout=timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if t.scheme == "rediss":
                    ctx = ssl.create_default_context(cafile=t.tls_ca)
                    if not t.tls_verify:
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                    s = ctx.wrap_socket(s, server_hostname=t.host)
        except FileNotFoundError as exc:
            raise TargetUnreadable(f"{t.location}: no such socket") from exc
        except ssl.SSLError as exc:
            raise TargetUnreadable(f"{t.location}: TLS handshake failed: {exc.reason}") from exc
        except OSError as exc:
            raise TargetUnreadable(f"{t.location}: Redis unreachable "
                                   f"({exc.strerror or type(exc).__name__})") from exc
        return s

    def pipeline(self, cmds: Sequence[Sequence[str | bytes | int]]) -> list:
        """Send every command, then read as many replies. Errors are returned, not raised."""
        if not cmds:
            return []
        self.send(cmds)
        return self.read(len(cmds))

    def send(self, cmds: Sequence[Sequence[str | bytes | int]]) -> None:
        """Send a pipeline without waiting (replies are read, in order, with `read`)."""
        self.commands += len(cmds)
        try:
            self.sock.sendall(b"".join([_pack(tuple(c)) for c in cmds]))
        except TimeoutError as exc:
            raise TargetUnreadable(f"{self.location}: Redis did not answer in time") from exc
        except OSError as exc:
            raise TargetUnreadable(f"{self.location}: connection lost "
                                   f"({exc.strerror or type(exc).__name__})") from exc

    def read(self, n: int) -> list:
        """The next `n` replies."""
        try:
            out = []
            gets = self.reader.gets
            while len(out) < n:
                r = gets()
                if r is False:
                    chunk = self.sock.recv(RECV)
                    if not chunk:
                        raise TargetUnreadable(f"{self.location}: connection closed by server")
                    self.reader.feed(chunk)
                    continue
                out.append(r)
            return out
        except TimeoutError as exc:
            raise TargetUnreadable(f"{self.location}: Redis did not answer in time") from exc
        except (ConnectionError, OSError) as exc:
            raise TargetUnreadable(f"{self.location}: connection lost "
                                   f"({exc.strerror or type(exc).__name__})") from exc
        except hiredis.ProtocolError as exc:
            raise TargetUnreadable(f"{self.location}: not a Redis server (protocol error)") from exc

    def call(self, *args: str | bytes | int) -> object:
        r = self.pipeline([args])[0]
        if isinstance(r, ReplyError):
            raise refusal(self.location, str(args[0]), r)
        return r

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class CommandRefused(StoreRefused):
    """The server answered one command with an error reply (an ACL `NOPERM`, a command
    renamed away, `READONLY`…). Callers that can do without the command catch it and note
    it; uncaught, it is exit 3 with the command and the server's reason."""

    def __init__(self, command: str, reply: Exception, location: str | None = None) -> None:
        self.command = command
        self.reply = reply
        self.reason = f"{command} refused ({_safe(reply)})"
        super().__init__(f"{location}: {self.reason}" if location else self.reason)

    @property
    def denied(self) -> bool:
        return is_denied(self.reply)


def refusal(location: str, command: str, reply: object) -> StoreRefused:
    """The error to raise for an error reply: a missing password stops every command, so it
    is not a CommandRefused that a caller able to do without one command would swallow."""
    if str(reply).startswith("NOAUTH"):
        return StoreRefused(f"{location}: authentication required (NOAUTH): give the password "
                            "in the URL or with --password-env VAR")
    return CommandRefused(command, reply, location)  # type: ignore[arg-type]


def is_denied(reply: object) -> bool:
    s = str(reply)
    return s.startswith(("NOPERM", "ERR unknown command", "ERR unknown subcommand")) or (
        "not allowed" in s or "has no permissions" in s or "disabled" in s)


def _first_word(r: object) -> str:
    return str(r).split(" ", 1)[0] or "error"


def _safe(r: object) -> str:
    return " ".join(str(r).split())[:200]
