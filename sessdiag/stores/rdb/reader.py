"""The RDB primitives over a buffered byte stream: lengths, strings (raw, integer, LZF), skips.

The stream is read in large chunks into one buffer and parsed by index, so no Python work runs
per byte. A declared length is never allocated before its bytes have arrived: a string is
kept only up to a cap and read in bounded chunks, a skipped one is read and dropped, so a
record that claims a gigabyte in ten bytes ends in RdbTruncated after reading ten bytes.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from sessdiag.stores.rdb import lzf
from sessdiag.stores.rdb.errors import RdbCorrupt, RdbError, RdbTruncated

CHUNK = 1 << 20
MAX_READ = 16 << 20  # the largest single read(): a read(n) allocates n before data arrives
MAX_KEEP = 64 << 20  # the largest string kept in memory; longer ones are cut (head kept)

# Special string encodings, returned by `length` as negative numbers.
ENC_INT8, ENC_INT16, ENC_INT32, ENC_LZF = -1, -2, -3, -4
_INT_SIZE = {ENC_INT8: 1, ENC_INT16: 2, ENC_INT32: 4}
_I16 = struct.Struct("<h").unpack_from
_I32 = struct.Struct("<i").unpack_from
_I64 = struct.Struct("<q").unpack_from
_U32BE = struct.Struct(">I").unpack_from
_U64BE = struct.Struct(">Q").unpack_from


class Reader:
    """A byte stream read forward once (a file, a gzip stream, standard input)."""

    def __init__(self, f: BinaryIO, chunk: int = CHUNK) -> None:
        self.f = f
        self.chunk = chunk
        self.buf = b""
        self.pos = 0
        self.base = 0  # stream offset of buf[0]
        # Facts of the last string read or skipped (for STRLEN and memory estimates).
        self.slen = 0  # its full (uncompressed) length
        self.cut = False  # the value returned is only its head
        self.raw = 0  # running total of string bytes (uncompressed), for sizes per record
        self.nstr = 0  # running count of strings
        self.packed: tuple[bytes, int] | None = None  # the last string cut in its LZF form
        # Why an LZF string did not expand (it stands in as b""): its bytes are consumed, so
        # the record around it still ends where its lengths say; the parser counts the record.
        self.bad: str | None = None

    # -- the buffer --------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fill(self, n: int) -> None:
        """At least n bytes from pos in the buffer, or RdbTruncated. n <= MAX_KEEP."""
        have = len(self.buf) - self.pos
        if have >= n:
            return
        parts = [self.buf[self.pos:]]
        while have < n:
            data = self.f.read(min(max(self.chunk, n - have), MAX_READ))
            if not data:
                raise RdbTruncated("the dump ends inside a record", self.base + len(self.buf))
            parts.append(data)
            have += len(data)
        self.base += self.pos
        self.buf = b"".join(parts)
        self.pos = 0

    def at_end(self) -> bool:
        """No byte left (reads ahead if the buffer is empty)."""
        if self.pos < len(self.buf):
            return False
        data = self.f.read(self.chunk)
        if not data:
            return True
        self.base += len(self.buf)
        self.buf = data
        self.pos = 0
        return False

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.buf):
            self.fill(n)
            end = self.pos + n
        s = self.buf[self.pos:end]
        self.pos = end
        return s

    def skip(self, n: int) -> None:
        have = len(self.buf) - self.pos
        if n <= have:
            self.pos += n
            return
        n -= have
        self.base += len(self.buf)
        self.buf = b""
        self.pos = 0
        while n > 0:
            data = self.f.read(min(n, MAX_READ))
            if not data:
                raise RdbTruncated("the dump ends inside a record", self.base)
            self.base += len(data)
            n -= len(data)

    # -- primitives --------------------------------------------------------------------------
    def byte(self) -> int:
        if self.pos >= len(self.buf):
            self.fill(1)
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def length(self) -> int:
        """A length, or a negative ENC_* for a specially encoded string."""
        pos = self.pos
        buf = self.buf
        if pos + 9 > len(buf):
            return self._length_slow()
        b = buf[pos]
        t = b >> 6
        if t == 0:
            self.pos = pos + 1
            return b
        if t == 1:
            self.pos = pos + 2
            return ((b & 0x3F) << 8) | buf[pos + 1]
        if t == 3:
            self.pos = pos + 1
            enc = b & 0x3F
            if enc > 3:
                raise RdbError(f"unknown string encoding {enc}", self.offset - 1)
            return -1 - enc
        if b == 0x80:
            self.pos = pos + 5
            return _U32BE(buf, pos + 1)[0]
        if b == 0x81:
            self.pos = pos + 9
            return _U64BE(buf, pos + 1)[0]
        raise RdbError(f"bad length byte 0x{b:02x}", self.offset)

    def _length_slow(self) -> int:
        b = self.byte()
        t = b >> 6
        if t == 0:
            return b
        if t == 1:
            return ((b & 0x3F) << 8) | self.byte()
        if t == 3:
            enc = b & 0x3F
            if enc > 3:
                raise RdbError(f"unknown string encoding {enc}", self.offset - 1)
            return -1 - enc
        if b == 0x80:
            return _U32BE(self.take(4))[0]
        if b == 0x81:
            return _U64BE(self.take(8))[0]
        raise RdbError(f"bad length byte 0x{b:02x}", self.offset - 1)

    def count(self) -> int:
        """A length that must not be a string encoding (element counts, ids)."""
        n = self.length()
        if n < 0:
            raise RdbError("an encoded string where a length belongs", self.offset)
        return n

    def string(self, cap: int = MAX_KEEP) -> bytes:
        """A string, or its first `cap` bytes (then self.cut); self.slen is its full length."""
        # The hot case inline (most strings of a dump: a 6- or 14-bit length, whole in the
        # buffer): one call per string instead of three.
        buf = self.buf
        pos = self.pos
        b = buf[pos] if pos < len(buf) else 0xFF
        if b < 0x80:
            if b < 0x40:
                n = b
                pos += 1
            elif pos + 1 < len(buf):
                n = ((b & 0x3F) << 8) | buf[pos + 1]
                pos += 2
            else:
                n = -9
            end = pos + n
            if 0 <= n <= cap and end <= len(buf):
                self.pos = end
                self.nstr += 1
                self.raw += n
                self.slen = n
                self.cut = False
                return buf[pos:end]
        n = self.length()
        self.nstr += 1
        if n >= 0:
            self.raw += n
            self.slen = n
            if n <= cap:
                self.cut = False
                end = self.pos + n
                if end > len(self.buf):
                    self.fill(n)
                    end = self.pos + n
                s = self.buf[self.pos:end]
                self.pos = end
                return s
            self.cut = True
            head = self.take(cap)
            self.skip(n - cap)
            return head
        if n == ENC_LZF:
            return self._lzf(cap)
        size = _INT_SIZE[n]
        s = self.take(size)
        v = s[0] - ((s[0] & 0x80) << 1) if size == 1 else (_I16(s)[0] if size == 2 else
                                                             _I32(s)[0])
        out = str(v).encode()
        self.slen = len(out)
        self.raw += self.slen
        self.cut = False
        return out

    def head(self, cap: int, keep: int) -> bytes:
        """A string's head for sniffing: an LZF string is expanded only to its first `cap`
        bytes and kept compressed in self.packed for a caller that needs more after all; a
        plain string keeps its first `keep` bytes (a slice costs little, and a later wider
        GETRANGE has nothing else to read from)."""
        if self.pos >= len(self.buf):
            self.fill(1)
        pos = self.pos
        if self.buf[pos] != 0xC3:  # not LZF
            self.packed = None
            return self.string(keep)
        self.pos = pos + 1
        self.nstr += 1
        clen = self.count()
        ulen = self.count()
        self.slen = ulen
        self.raw += ulen
        if clen > MAX_KEEP or ulen > MAX_KEEP:
            self.skip(clen)
            self.cut = True
            self.packed = None
            return b""
        data = self.take(clen)
        try:
            out = lzf.decompress(data, ulen, cap)
        except RdbCorrupt as exc:
            self.bad = exc.reason
            self.cut = False
            self.packed = None
            return b""
        self.cut = ulen > len(out)
        self.packed = (data, ulen) if self.cut else None
        return out

    def stand_in(self) -> bytes:
        """A string whose content the caller does not need: raw bytes are sliced as usual,
        an LZF string is skipped and stands in as zeros of its length (no expansion)."""
        if self.pos >= len(self.buf):
            self.fill(1)
        pos = self.pos
        if self.buf[pos] != 0xC3:  # not LZF
            return self.string()
        self.pos = pos + 1
        self.nstr += 1
        clen = self.count()
        ulen = self.count()
        self.slen = ulen
        self.raw += ulen
        self.skip(clen)
        self.cut = False
        if ulen > clen * lzf.MAX_RATIO + 32:  # as decompress() would say: no zeros for it
            self.bad = f"LZF string declares {ulen} bytes from {clen} compressed bytes"
            return b""
        return bytes(min(ulen, MAX_KEEP))

    def _lzf(self, cap: int) -> bytes:
        clen = self.count()
        ulen = self.count()
        self.slen = ulen
        self.raw += ulen
        if clen > MAX_KEEP or ulen > MAX_KEEP:
            self.skip(clen)
            self.cut = True
            return b""
        data = self.take(clen)  # consumed first: a corrupt string still ends where it says
        try:
            out = lzf.decompress(data, ulen)
        except RdbCorrupt as exc:
            self.bad = exc.reason
            self.cut = False
            return b""
        self.cut = len(out) > cap
        return out[:cap] if self.cut else out

    def skip_string(self) -> None:
        n = self.length()
        self.nstr += 1
        if n >= 0:
            self.slen = n
            self.raw += n
            end = self.pos + n
            if end <= len(self.buf):
                self.pos = end
            else:
                self.skip(n)
            return
        if n == ENC_LZF:
            clen = self.count()
            self.slen = self.count()
            self.raw += self.slen
            self.skip(clen)
            return
        self.skip(_INT_SIZE[n])
        self.slen = 4  # a small integer: its digits, roughly
        self.raw += 4

    def ms_time(self) -> int:
        """8 bytes little-endian (Redis writes the host's order; every supported host is LE)."""
        pos = self.pos
        if pos + 8 <= len(self.buf):  # inline: one per key with an expiry
            self.pos = pos + 8
            return _I64(self.buf, pos)[0]
        return _I64(self.take(8))[0]
