import random

from hypothesis import given
from hypothesis import strategies as st

from sessdiag.census import Census


@given(st.lists(st.floats(0, 1, exclude_max=True), min_size=0, max_size=60),
       st.integers(0, 60), st.integers(1, 20))
def test_merge_keeps_the_k_smallest_keys_of_the_union(keys, split, k):
    split = min(split, len(keys))
    items = [(-r, f"p{i}", i) for i, r in enumerate(keys)]
    a = Census(buckets=3)
    b = Census(buckets=3)
    # Each partial keeps its own bottom-k, as a worker does.
    a.sample = sorted(items[:split], key=lambda t: -t[0])[:k]
    b.sample = sorted(items[split:], key=lambda t: -t[0])[:k]
    a.merge(b, k)
    want = sorted(keys)[:k]
    got = sorted(-t[0] for t in a.sample)
    assert got == want


def test_merge_adds_counts_histograms_and_extremes():
    a = Census(buckets=3, sessions=2, bytes=40, hist=[1, 1, 0], oldest=10.0, newest=20.0,
               empty_hours={5: 2}, shards={"a/b": 2})
    b = Census(buckets=3, sessions=3, bytes=60, hist=[0, 1, 2], oldest=5.0, newest=15.0,
               empty_hours={5: 1, 6: 1}, shards={"a/b": 1, "c/d": 2})
    a.merge(b, 10)
    assert (a.sessions, a.bytes, a.hist) == (5, 100, [1, 2, 2])
    assert (a.oldest, a.newest) == (5.0, 20.0)
    assert a.empty_hours == {5: 3, 6: 1}
    assert a.shards == {"a/b": 3, "c/d": 2}


def test_merge_with_empty_partial_keeps_extremes():
    a = Census(buckets=2, oldest=None, newest=None)
    b = Census(buckets=2, oldest=3.0, newest=4.0)
    a.merge(b, 5)
    assert (a.oldest, a.newest) == (3.0, 4.0)
    a.merge(Census(buckets=2), 5)
    assert (a.oldest, a.newest) == (3.0, 4.0)


def test_sample_is_uniform_enough():
    rnd = random.Random(7)
    counts = [0] * 4
    for _ in range(400):
        parts = []
        for shard in range(4):
            c = Census(buckets=1)
            c.sample = [(-rnd.random(), f"s{shard}", 0) for _ in range(50)]
            c.sample = sorted(c.sample, key=lambda t: -t[0])[:5]
            parts.append(c)
        total = Census(buckets=1)
        for p in parts:
            total.merge(p, 5)
        for _, path, _ in total.sample:
            counts[int(path[1])] += 1
    # 2000 draws over 4 equal shards: each near 500; a biased merge would skew hard.
    assert all(400 < n < 600 for n in counts), counts
