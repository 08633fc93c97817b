"""The sync engine (controller/sync.py) against a fake switch's channel (tests/fakeswitch.py):
first connection, reconnection with stale and foreign flows, a lost barrier, a refused write, a
switch that leaves mid-write."""
import dataclasses

import pytest

from controller.flows import switch_flows, switch_groups
from controller.pipeline import COOKIE_LOG, LOG_METER, SPOOF_METER
from controller.specs import FlowSpec, Output
from controller.state import ClusterState
from controller.sync import (BARRIER_TIMEOUT, AddFlow, AddGroup, AddMeter, Barrier, DeleteFlow, DeleteGroup, Read,
                             SwitchSync, diff)
from core.builder import describe
from tests.fakeswitch import FakeChannel

D = describe(mode="nat", clients=2, webs=2)
METERS = {LOG_METER: (500, 100), SPOOF_METER: (100, 50)}


def desired(switch, active=("lb1",)):
    state = ClusterState(D)
    state.proxies.active = active
    view = state.view()
    return lambda: (switch_flows(D, switch, view), switch_groups(D, switch, view))


def exchange(engine, channel, messages):
    """Send `messages` and feed every reply back to the engine, until nothing more is sent."""
    while messages:
        replies, messages = channel.take(messages), []
        for kind, xid, entries in replies:
            if kind == "read":
                messages += engine.read_reply(xid, entries)
            elif kind == "barrier":
                engine.barrier_reply(xid)
            else:
                engine.error(xid)


def sync(engine, channel, wanted, now=0.0):
    """Rounds of the flow writer until the engine has nothing to send: what it sent."""
    sent = []
    while True:
        messages = engine.sync(wanted, now)
        if not messages:
            return sent
        sent += messages
        exchange(engine, channel, messages)


def held(channel, wanted):
    """The channel holds the wanted flows (ours; foreign ones may stay beside them) and groups."""
    flows, groups = wanted()
    ours = {key: cookie for key, cookie in channel.flows.items() if cookie & 0xffffffff != 0}
    return ours == {f.key: f.wire_cookie for f in flows} and channel.groups == {g.group_id: g for g in groups}


def connected(channel, name="s_pub", wanted=None):
    engine = SwitchSync(name, METERS)
    engine.connect()
    return engine, sync(engine, channel, wanted or desired(name))


def test_the_diff_sends_only_what_changed():
    installed = {"a": 1, "b": 2, "c": 3}
    assert diff(installed, {"b": 2, "c": 4, "d": 5}) == (["a"], ["d"], ["c"])
    assert diff(installed, dict(installed)) == ([], [], [])


def test_a_first_connection_is_read_then_filled_groups_first_highest_priority_first_then_confirmed():
    channel, wanted = FakeChannel(), desired("s_pub")
    engine, sent = connected(channel, wanted=wanted)
    assert [type(m) for m in sent[:3]] == [Read] * 3
    assert {m.meter_id for m in channel.received if isinstance(m, AddMeter)} == set(METERS)   # once read back
    writes = [m for m in sent if isinstance(m, (AddGroup, AddFlow))]
    assert isinstance(writes[0], AddGroup) and not writes[0].modify
    priorities = [m.spec.priority for m in writes if isinstance(m, AddFlow)]
    assert priorities == sorted(priorities, reverse=True)
    assert isinstance(sent[-1], Barrier)
    assert held(channel, wanted) and channel.meters == METERS
    assert engine.in_sync
    assert engine.sync(wanted, 1.0) == []          # nothing changed: nothing sent, not even a barrier


def test_a_reconnection_sends_only_the_difference_and_leaves_foreign_flows_alone():
    wanted = desired("s_pub")
    channel = FakeChannel()
    connected(channel, wanted=wanted)
    flows, _ = wanted()
    missing, changed = flows[0], flows[1]
    stale = FlowSpec.make(9, [], table_id=2, cookie=COOKIE_LOG, eth_dst="02:00:00:00:00:99")
    foreign = FlowSpec.make(7, [Output(1)], table_id=2, cookie=0, eth_dst="02:00:00:00:00:98")
    del channel.flows[missing.key]
    channel.flows[changed.key] = dataclasses.replace(changed, actions=()).wire_cookie
    channel.flows[stale.key] = stale.wire_cookie
    channel.flows[foreign.key] = foreign.wire_cookie
    channel.groups[77] = "a group no flow uses"
    channel.received.clear()

    engine, sent = connected(channel, wanted=wanted)     # a restarted controller, or a switch back
    writes = [m for m in sent if not isinstance(m, (Read, Barrier))]
    assert {m.key for m in writes if isinstance(m, DeleteFlow)} == {stale.key}
    assert {m.spec.key for m in writes if isinstance(m, AddFlow)} == {missing.key, changed.key}
    assert [m.group_id for m in writes if isinstance(m, DeleteGroup)] == [77]
    assert all(m.modify for m in writes if isinstance(m, AddGroup))     # read back: modified once
    assert not any(isinstance(m, AddMeter) for m in channel.received)   # the switch kept its meters
    assert held(channel, wanted) and channel.flows[foreign.key] == foreign.wire_cookie
    assert engine.foreign == 1 and engine.in_sync
    assert engine.sync(wanted, 1.0) == []


def test_a_lost_barrier_makes_the_switch_read_back_and_repaired():
    channel, wanted = FakeChannel(), desired("s_pub")
    engine, _ = connected(channel, wanted=wanted)
    channel.lose_barriers = True
    moved = desired("s_pub", active=("lb2",))
    channel.refuses = lambda m: isinstance(m, AddGroup)     # and the group's change was lost with it
    sent = sync(engine, channel, moved, now=10.0)
    assert isinstance(sent[-1], Barrier) and not engine.in_sync
    assert not engine.overdue(10.0 + BARRIER_TIMEOUT / 2)
    channel.lose_barriers, channel.refuses = False, lambda m: False
    engine.refused.clear()                                   # as if the error was lost too
    assert engine.overdue(10.0 + BARRIER_TIMEOUT + 0.1)
    assert not engine.in_sync
    sent = sync(engine, channel, moved, now=20.0)
    assert [type(m) for m in sent[:3]] == [Read] * 3
    assert held(channel, moved) and engine.in_sync
    assert not engine.overdue(100.0)


def test_a_refused_write_is_not_sent_again_until_the_wanted_entry_changes():
    channel, wanted = FakeChannel(), desired("s_pub")
    flows, _ = wanted()
    bad = flows[2]
    channel.refuses = lambda m: isinstance(m, AddFlow) and m.spec.key == bad.key
    engine, sent = connected(channel, wanted=wanted)
    (refusal,) = [m for m in sent if isinstance(m, AddFlow) and m.spec.key == bad.key]
    assert bad.key not in channel.flows and not engine.in_sync
    assert list(engine.refused) == [("flow", bad.key)]
    assert sync(engine, channel, wanted, now=1.0) == []     # refused: not sent again as it was
    channel.refuses = lambda m: False
    fixed = dataclasses.replace(bad, actions=(Output(1),))
    rewanted = lambda: ([fixed if f.key == bad.key else f for f in flows], wanted()[1])   # noqa: E731
    sent = sync(engine, channel, rewanted, now=2.0)
    assert [m.spec for m in sent if isinstance(m, AddFlow)] == [fixed]
    assert engine.in_sync and channel.flows[bad.key] == fixed.wire_cookie
    assert refusal.xid < sent[0].xid


def test_a_switch_that_leaves_mid_write_is_read_back_and_stale_replies_change_nothing():
    channel, wanted = FakeChannel(), desired("s_pub")
    engine = SwitchSync("s_pub", METERS)
    engine.connect()
    exchange(engine, channel, engine.sync(wanted, 0.0))        # read back, meters sent
    messages = engine.sync(wanted, 0.0)
    half = len(messages) // 2
    replies = channel.take(messages[:half])                    # the rest, and the barrier, never sent
    engine.disconnect()
    assert engine.sync(wanted, 0.0) == [] and not engine.in_sync
    engine.connect()
    for kind, xid, _ in replies + [("barrier", messages[-1].xid, None)]:   # late replies of the old channel
        assert not engine.owns(xid)
        assert engine.error(xid) is None and not engine.barrier_reply(xid)
    sent = sync(engine, channel, wanted, now=1.0)
    adds = [m for m in sent if isinstance(m, AddFlow)]
    assert len(adds) == sum(isinstance(m, AddFlow) for m in messages[half:])
    assert held(channel, wanted) and engine.in_sync


@pytest.mark.parametrize("switch", ["lb1", "s_lan", "s_db"])
def test_every_kind_of_switch_comes_to_its_wanted_state(switch):
    channel, wanted = FakeChannel(), desired(switch)
    engine, _ = connected(channel, switch, wanted)
    assert held(channel, wanted) and engine.in_sync
