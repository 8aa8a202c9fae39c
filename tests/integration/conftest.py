"""Session-scoped private redis-servers (standalone, replica, 3-primary cluster)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis
import redis_servers as rs


@pytest.fixture(scope="session")
def redis_workdir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("redis")


@pytest.fixture(scope="session")
def redis_server(redis_workdir) -> Iterator[rs.Server]:  # type: ignore[no-untyped-def]
    srv = rs.start(redis_workdir)
    yield srv
    srv.stop()


_dbs = itertools.count(1)


@pytest.fixture
def redis_db(redis_server: rs.Server) -> Iterator[tuple[str, redis.Redis]]:
    """A freshly flushed database of the session server: (url, client)."""
    db = next(_dbs) % 16 or 1
    client = redis.Redis(port=redis_server.port, db=db)
    client.flushdb()
    yield f"{redis_server.url}/{db}", client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def redis_cluster(redis_workdir) -> Iterator[list[rs.Server]]:  # type: ignore[no-untyped-def]
    nodes = rs.start_cluster(redis_workdir)
    yield nodes
    for s in nodes:
        s.stop()


@pytest.fixture
def cluster_client(redis_cluster: list[rs.Server]):  # type: ignore[no-untyped-def]
    from redis.cluster import RedisCluster

    c = RedisCluster(host="127.0.0.1", port=redis_cluster[0].port)
    c.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield c
    c.flushall(target_nodes=RedisCluster.PRIMARIES)
    c.close()
