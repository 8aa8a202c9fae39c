"""inspect's session id of a key: the id group of its profile's key pattern."""

from __future__ import annotations

import pytest

from sessdiag.stores.redis import profiles as P
from sessdiag.stores.redis.inspect import _sid

UUID = "0b8a0e5e-2d4e-4f5b-9a3c-6f1d2e3c4b5a"


@pytest.mark.parametrize(("key", "sid"), [
    (f"spring:session:sessions:{UUID}", UUID),
    (f"spring:session:sessions:expires:{UUID}", UUID),
    (":1:django.contrib.sessions.cache" + "k" * 32, "k" * 32),  # no ':' before the id
    ("myapp:session:2::" + "f" * 64, "2::" + "f" * 64),  # rack's private id, whole
    ("sess:" + "A" * 32, "A" * 32),
    ("PHPREDIS_SESSION:" + "a" * 26, "a" * 26),
    ("0123456789abcdef" * 2, "0123456789abcdef" * 2),
    ("user:42", "42"),
])
def test_sid_of_a_key(key: str, sid: str):
    kind, prof, ns = P.classify(key.encode())
    assert _sid(key.encode(), ns, kind, prof) == sid
