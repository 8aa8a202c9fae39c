"""Spring Session keyspaces written exactly as the repositories write them, for the tests.

The writer is the package's own (`sessdiag.fixture_redis.SpringWriter`, also behind
`sessdiag fixtures make redis://…`); here it sends through a redis-py client (standalone or
cluster). The JDK value encoders are checked against the vectors the JDK produced
(fixtures/java, tools/javagen) in tests/codecs/test_javawrite.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from sessdiag.codecs.javawrite import jint, jlong, jstring
from sessdiag.fixture_redis import PRINCIPAL_INDEX
from sessdiag.fixture_redis import SpringWriter as _PackageWriter

REPO = Path(__file__).resolve().parents[2]
JAVA = REPO / "fixtures" / "java"
MANIFEST = {v["name"]: v for v in json.loads((JAVA / "manifest.json").read_text())}

__all__ = ["MANIFEST", "PRINCIPAL_INDEX", "SpringWriter", "jint", "jlong", "jstring", "vector"]


def vector(name: str) -> bytes:
    return (JAVA / MANIFEST[name]["file"]).read_bytes()


class SpringWriter(_PackageWriter):
    """The package's writer on a redis-py client (`redis.Redis` or `RedisCluster`)."""

    def __init__(self, client, ns: str = "spring:session", indexed: bool = True,  # type: ignore[no-untyped-def]
                 json_values: bool = False) -> None:
        super().__init__(lambda cmd: client.execute_command(*cmd), ns, indexed, json_values)
        self.r = client
