"""controller/pipeline.py names every table of each switch kind, in order, and every group,
meter and cookie once: no two ids share a value for different things, and every flow of every
switch, in every mode and proxy policy, lives in (and resubmits to) a table its kind names."""
import pytest

from controller import pipeline
from controller.flows import switch_flows, switch_groups, switch_meters
from controller.specs import Conntrack, Group, Resubmit
from controller.state import ClusterState
from core.builder import describe


def ids(named):
    return [table_id for _, table_id in named]


@pytest.mark.parametrize("tables", [pipeline.EDGE_TABLES, pipeline.PROXY_TABLES])
def test_each_kind_names_its_tables_once_in_the_order_a_packet_meets_them(tables):
    assert ids(tables) == sorted(set(ids(tables)))
    assert len({name for name, _ in tables}) == len(tables)


def test_groups_meters_and_cookies_are_each_one_id_for_one_thing():
    assert len(set(ids(pipeline.GROUPS))) == len(pipeline.GROUPS)
    meters = (pipeline.LOG_METER, pipeline.PASSIVE_METER, pipeline.DENY_METER, pipeline.SPOOF_METER)
    assert len(set(meters)) == len(meters) and set(pipeline.COPY_METERS.values()) == set(meters)
    assert len(set(pipeline.COOKIE_KINDS)) == len(pipeline.COOKIE_KINDS)


def tables_used(flows):
    used = set()
    for flow in flows:
        used.add(flow.table_id)
        used.update(a.table_id for a in flow.actions if isinstance(a, Resubmit))
        used.update(a.table for a in flow.actions if isinstance(a, Conntrack) and a.table is not None)
    return used


@pytest.mark.parametrize("mode", ["nat", "dr", "tun"])
@pytest.mark.parametrize("active", [("lb1",), ("lb1", "lb2")])
def test_every_flow_is_in_a_table_its_switch_kind_names(mode, active):
    d = describe(mode=mode, clients=4, webs=3)
    state = ClusterState(d)
    state.proxies.active = active
    view = state.view()
    for switch in d.switches:
        kind = pipeline.PROXY_TABLES if d.switch(switch.name).role == "proxy" else pipeline.EDGE_TABLES
        flows = switch_flows(d, switch.name, view)
        assert tables_used(flows) <= set(ids(kind)), switch.name
        groups = switch_groups(d, switch.name, view)
        assert {g.group_id for g in groups} <= set(ids(pipeline.GROUPS)) | set(pipeline.GROUP_SERVICES)
        used_groups = {a.group_id for f in flows for a in f.actions if isinstance(a, Group)}
        assert used_groups <= {g.group_id for g in groups}, switch.name
        assert set(switch_meters(d, switch.name)) <= set(pipeline.COPY_METERS.values())
