from collections import Counter

import pytest

from controller.maglev import TABLE_SIZE, lookup_table, populate, slot_of

KEYS = [("10.0.0.%d" % (i % 200 + 1), 1024 + i) for i in range(10000)]


def shares(table):
    counts = Counter(table[slot_of(k)] for k in KEYS)
    return {name: n / len(KEYS) for name, n in counts.items()}


@pytest.mark.parametrize("weights", [
    {"web1": 1, "web2": 1},
    {"web1": 3, "web2": 1},
    {"web1": 1, "web2": 1, "web3": 1},
    {"web1": 5, "web2": 2, "web3": 1, "web4": 0},
])
def test_balance_follows_weights_within_5_percent(weights):
    total = sum(weights.values())
    got = shares(lookup_table(weights, healthy=set(weights)))
    for name, weight in weights.items():
        assert abs(got.get(name, 0) - weight / total) <= 0.05, (name, got)


def test_every_slot_is_filled_and_zero_weight_gets_none():
    table = populate({"web1": 1, "web2": 0})
    assert len(table) == TABLE_SIZE and set(table) == {"web1"}
    assert populate({"web1": 0}) == [None] * TABLE_SIZE


def test_computed_twice_the_table_is_identical():
    weights = {"web1": 3, "web2": 1, "web3": 2}
    reordered = dict(reversed(list(weights.items())))
    assert lookup_table(weights, set(weights)) == lookup_table(reordered, set(weights))


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_removing_one_server_moves_only_its_keys(n):
    weights = {"web%d" % i: 1 for i in range(1, n + 1)}
    before = lookup_table(weights, set(weights))
    after = lookup_table(weights, set(weights) - {"web2"})
    moved = [k for k in KEYS if before[slot_of(k)] != after[slot_of(k)]]
    assert moved and all(before[slot_of(k)] == "web2" for k in moved)
    assert "web2" not in after
    assert sum(before[slot_of(k)] == "web2" for k in KEYS) == len(moved)


def test_a_restored_server_takes_back_exactly_its_slots():
    weights = {"web1": 1, "web2": 1, "web3": 1}
    assert lookup_table(weights, {"web1", "web3"}) != lookup_table(weights, set(weights))
    assert lookup_table(weights, set(weights)) == populate(weights)


def test_slots_of_a_failed_server_spread_over_the_others():
    weights = {"web%d" % i: 1 for i in range(1, 5)}
    after = lookup_table(weights, set(weights) - {"web1"})
    taken = Counter(after[s] for s, owner in enumerate(populate(weights)) if owner == "web1")
    assert set(taken) == {"web2", "web3", "web4"}


def test_no_healthy_server_leaves_the_table_empty():
    assert set(lookup_table({"web1": 1, "web2": 1}, healthy=set())) == {None}


def test_weight_change_keeps_most_slots():
    before = populate({"web1": 1, "web2": 1, "web3": 1})
    after = populate({"web1": 2, "web2": 1, "web3": 1})
    kept = sum(a == b for a, b in zip(before, after))
    assert kept / TABLE_SIZE > 0.6
