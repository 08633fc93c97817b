"""The fault table: every kind the CLI offers is one the harness can do and undo."""
from topologies.faults import CONTROLLER, FAILURE_KINDS, FAULTS


def test_the_kinds_offered_are_exactly_the_table_s_rows():
    assert {(role, kind) for role, kinds in FAILURE_KINDS.items() for kind in kinds} == set(FAULTS)


def test_every_failure_has_its_undoing():
    assert all(callable(f.fail) and callable(f.recover) for f in FAULTS.values())


def test_every_role_of_a_cluster_can_fail_in_some_way():
    assert set(FAILURE_KINDS) == {"web", "db", "proxy", "director", "client", "router", CONTROLLER}
    assert FAILURE_KINDS["proxy"] == ("crash", "link", "hang")
