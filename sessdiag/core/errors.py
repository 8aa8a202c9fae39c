"""One exception hierarchy. The CLI maps each class to a contract exit code."""

from __future__ import annotations


class SessdiagError(Exception):
    """Base of every error sessdiag raises on purpose."""

    exit_code = 2


class UsageError(SessdiagError):
    """Bad flags or bad input (missing path, not a session store, bad URL): exit 2."""

    exit_code = 2


class TargetUnreadable(SessdiagError):
    """The target exists but cannot be read (permission at the root, server down): exit 3."""

    exit_code = 3


class StoreRefused(TargetUnreadable):
    """The store answered but refused what we asked: an ACL without the command (`NOPERM`),
    a password required or wrong (`NOAUTH`, `WRONGPASS`), a read-only replica asked to write
    (`READONLY`). Exit 3 like any unreadable target: the fix is on the store's side, and it is
    never a bug of ours (exit 70).

    Backends translate their client's refusals into this at their boundary.
    """

    exit_code = 3


class SafetyRefusal(SessdiagError):
    """A prune safety check refused to act; nothing was deleted: exit 4."""

    exit_code = 4


class LockHeld(SessdiagError):
    """Another prune holds this store's lock (temporary failure): exit 75."""

    exit_code = 75


class DecodeError(SessdiagError):
    """A payload is invalid for its format. Carries the byte offset where decoding stopped."""

    exit_code = 2

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.reason = message
        self.offset = offset
