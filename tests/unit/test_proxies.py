"""Proxy liveness and the election, driven by a fake clock."""
import pytest

from core.settings import ACTIVE_ACTIVE, ProxyPolicy
from controller.proxies import STALL_HOLD
from controller.state import ClusterState
from core.builder import describe

D = describe()


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def cluster(**policy):
    clock = Clock()
    state = ClusterState(D, proxy_policy=ProxyPolicy(**policy), clock=clock)
    for switch in ("s_pub", "s_lan", "s_db", "lb1", "lb2"):
        state.switch_connected(switch)
    state.elect()
    return state, clock


def probes_back(state, *proxies, sent_at=None):
    """A round of probes, sent now (or at `sent_at`), back from `proxies` and from both sides."""
    sent_at = state.clock() if sent_at is None else sent_at
    for side in ("s_pub", "s_lan"):
        for proxy in proxies:
            state.probe_reply(proxy, side, sent_at)
        state.reference_reply(side, sent_at)


def test_first_election_waits_for_both_proxies_and_prefers_lb1():
    state = ClusterState(D)
    state.switch_connected("lb2")
    assert state.elect() is None and state.active_proxy is None
    state.switch_connected("lb1")
    assert state.elect()["to"] == ["lb1"]


def test_settle_elects_the_only_connected_proxy():
    state = ClusterState(D)
    assert state.switch_connected("s_pub") is False           # an edge: nothing to settle
    assert state.switch_connected("lb2") is True              # a proxy before the first election
    assert state.settle_election()["to"] == ["lb2"]
    assert state.switch_connected("lb1") is False             # settled


def restarted_with(active):
    """A restarted controller's state: the saved active proxy, nothing connected yet."""
    state = ClusterState(D)
    state.proxies.active = (active,)
    return state


def test_a_restart_keeps_the_vip_on_its_proxy_when_it_comes_back():
    state = restarted_with("lb2")
    for switch in ("s_pub", "s_lan", "lb1", "lb2"):
        state.switch_connected(switch)
    assert state.elect() is None and state.active_proxy == "lb2"       # not a failover, not even to lb1


def test_a_restart_fails_over_at_once_from_a_saved_proxy_known_dead():
    state = restarted_with("lb1")
    for switch in ("s_pub", "lb2"):
        state.switch_connected(switch)
    assert state.elect() is None                       # lb1 may still be reconnecting: wait
    state.port_status("s_pub", D.proxy_port("s_pub", "lb1"), False)    # its cable is dead
    record = state.elect()
    assert record["to"] == ["lb2"] and "lb1 lost its OpenFlow channel" in record["cause"]


def test_a_restart_with_no_proxy_alive_waits_for_the_settle():
    state = restarted_with("lb1")
    state.switch_connected("s_pub")
    state.port_status("s_pub", D.proxy_port("s_pub", "lb1"), False)
    assert state.elect() is None and state.active_proxy == "lb1"


def test_losing_the_channel_fails_over_and_failback_is_not_preemptive():
    state, _clock = cluster()
    assert state.active_proxy == "lb1"
    state.switch_disconnected("lb1")
    record = state.elect()
    assert record["to"] == ["lb2"] and "lb1 lost its OpenFlow channel" in record["cause"]
    state.switch_connected("lb1")
    assert state.elect() is None and state.active_proxy == "lb2"
    assert [p["role"] for p in state.status()["proxies"]] == ["standby", "active"]
    assert state.status()["last_failover"]["from"] == ["lb1"]


def test_preemptive_failback_returns_the_vip_to_lb1_once_it_has_been_alive_for_the_delay():
    state, clock = cluster(preempt=True)
    state.switch_disconnected("lb1")
    state.elect()
    state.switch_connected("lb1")
    assert state.elect() is None                    # alive again, but not yet for preempt_delay
    clock.now += 0.9
    assert state.elect() is None
    clock.now += 0.1
    record = state.elect()
    assert record["to"] == ["lb1"] and "preemption" in record["cause"]


def test_a_cut_cable_fails_the_proxy():
    state, _clock = cluster()
    state.port_status("s_pub", D.proxy_port("s_pub", "lb1"), False)
    record = state.elect()
    assert record["to"] == ["lb2"] and "lb1's links are down" in record["cause"]


def test_a_hung_datapath_is_caught_by_its_silent_probes():
    state, clock = cluster()
    clock.now += 0.3
    probes_back(state, "lb1", "lb2")
    assert state.elect() is None
    clock.now += 0.3
    probes_back(state, "lb2")            # lb1 keeps its channel but sends nothing back
    assert state.elect() is None         # 0.3 s: within the probe timeout
    clock.now += 0.1
    assert state.elect() is None         # no later round back yet: nothing proves lb1 silent
    probes_back(state, "lb2")
    record = state.elect()
    assert record["to"] == ["lb2"] and "stopped answering liveness probes" in record["cause"]
    assert state.status()["proxies"][0]["health"] == {"channel": True, "links": True, "bfd": True,
                                                      "probes": False}


def test_both_proxies_down_take_the_vip_down_until_one_returns():
    state, _clock = cluster()
    state.switch_disconnected("lb1")
    state.switch_disconnected("lb2")
    state.elect()
    assert state.status()["vip_state"] == "down" and state.view().active_proxies == ()
    state.switch_connected("lb2")
    assert state.elect()["to"] == ["lb2"] and state.status()["vip_state"] == "up"


def test_active_active_carries_the_vip_on_every_live_proxy():
    state, _clock = cluster(mode=ACTIVE_ACTIVE)
    assert state.view().active_proxies == ("lb1", "lb2")
    state.switch_disconnected("lb2")
    assert state.elect()["to"] == ["lb1"]


def test_nonsense_policy_is_refused():
    with pytest.raises(ValueError, match="proxy mode must be active-standby or active-active"):
        ProxyPolicy(mode="both").validate()


def bfd(state, proxy, live, ends=None):
    """BFD's verdict on the proxy's cable ends (all of them, or the `ends`-th ones), links up."""
    cable_ends = D.proxy_cable_ends(proxy)
    for i in range(len(cable_ends)) if ends is None else ends:
        switch, port, _ = cable_ends[i]
        state.port_status(switch, port, True, live=live)


def bfd_up_everywhere(state):
    for proxy in ("lb1", "lb2"):
        bfd(state, proxy, True)


def test_bfd_losing_a_proxy_fails_it_over_once_a_stall_window_has_passed():
    """The edge's fast-failover group has already left lb1; the election waits one stall window
    (no other proxy falls silent: not a switch stall), then records why."""
    state, clock = cluster()
    bfd_up_everywhere(state)
    bfd(state, "lb1", False, ends=[2])              # s_pub's end: link up, BFD lost
    assert state.elect() is None                    # lb1's end still up: it hears of it next
    bfd(state, "lb1", False, ends=[0])
    assert state.proxies.stall_window == pytest.approx(0.12)
    assert state.elect() is None
    clock.now += 0.12
    record = state.elect()
    assert record["to"] == ["lb2"] and "BFD lost lb1" in record["cause"]
    lb1 = state.status()["proxies"][0]
    assert lb1["health"]["links"] and not lb1["health"]["bfd"]
    end = next(c for c in lb1["cables"] if c["switch"] == "s_pub")
    assert (end["link"], end["bfd"], end["to"]) == ("up", "down", "lb1")


def test_a_cable_whose_one_end_is_back_is_coming_up_not_silent():
    """A CI run's failure: lb2 back from a hang, the edges' ends up, its own ends a second later
    (BFD's three-way handshake at a session's slow rate); lb1 fully up meanwhile. lb2 carries."""
    state, clock = cluster()
    bfd_up_everywhere(state)
    state.proxies.active = ("lb2",)
    bfd(state, "lb2", False)
    clock.now += 1.0
    bfd(state, "lb2", True, ends=[2, 3])            # the edges hear lb2 again
    assert state.elect() is None and state.active_proxy == "lb2"
    cables = {(c["switch"], c["bfd"]) for c in state.status()["proxies"][1]["cables"]}
    assert cables == {("lb2", "coming up"), ("s_pub", "up"), ("s_lan", "up")}
    clock.now += 1.0
    assert state.elect() is None and state.active_proxy == "lb2"


# A stall of ovs-vswitchd (stopped for 60 ms, as in a CI run's failure): (seconds, proxy, cable
# end as D.proxy_cable_ends numbers them, BFD live). Every session expired within 2 ms, lb1's
# first; they came back over 1.9 s, lb2's first.
STALL = [(0.000, "lb1", 2, False), (0.000, "lb2", 2, False), (0.001, "lb2", 3, False),
         (0.001, "lb1", 3, False), (0.002, "lb1", 0, False), (0.002, "lb1", 1, False),
         (0.002, "lb2", 0, False), (0.002, "lb2", 1, False),
         (0.780, "lb2", 3, True), (0.931, "lb1", 3, True), (0.961, "lb1", 2, True),
         (0.971, "lb2", 2, True), (1.641, "lb2", 1, True), (1.708, "lb2", 0, True),
         (1.822, "lb1", 0, True), (1.900, "lb1", 1, True)]


def replay(state, clock, events, elect_every=0.01):
    """Feed the events at their times, electing after each and every `elect_every` s between;
    the records and, after each event, whether BFD's verdicts were held."""
    records, held, start = [], [], clock.now
    for at, proxy, end, live in events:
        while clock.now + elect_every < start + at:
            clock.now += elect_every
            records.append(state.elect())
        clock.now = start + at
        bfd(state, proxy, live, ends=[end])
        records.append(state.elect())
        held.append(state.view().bfd_held)
    return [r for r in records if r], held


def test_a_switch_stall_moves_nothing_while_its_sessions_come_back_one_by_one():
    state, clock = cluster()
    bfd_up_everywhere(state)
    records, held = replay(state, clock, STALL)
    assert records == [] and state.active_proxy == "lb1"
    assert held == [False] + [True] * (len(STALL) - 2) + [False]    # from lb2's first silence to the last return
    assert state.status()["bfd"]["held"] is False


def test_the_hold_is_told_once_when_it_begins_and_once_when_it_ends():
    state, clock = cluster()
    bfd_up_everywhere(state)
    told, start = [], clock.now
    for at, proxy, end, live in STALL:
        clock.now = start + at
        bfd(state, proxy, live, ends=[end])
        told.append(state.proxies.hold_change())
    assert [t for t in told if t is not None] == [True, False]
    assert state.proxies.hold_change() is None


def test_a_proxy_cut_during_a_stall_is_failed_over_when_the_hold_runs_out():
    """Its sessions never come back: BFD's verdict counts again after STALL_HOLD."""
    state, clock = cluster()
    bfd_up_everywhere(state)
    records, held = replay(state, clock, [e for e in STALL if e[1] == "lb2" or not e[3]])
    assert records == [] and held[-1] is True
    clock.now += STALL_HOLD - clock.now % 1 + 1
    record = state.elect()
    assert record["to"] == ["lb2"] and "BFD lost lb1" in record["cause"]
    assert state.view().bfd_held is False


def test_preemption_is_not_fooled_by_a_stall_that_makes_a_cut_proxy_look_alive():
    """A CI run's failure: lb1 cut and failed over, then 46 ms later a stall silenced lb2's
    sessions too, which excuses lb1's silence; preemption must not hand it the VIP."""
    state, clock = cluster(preempt=True)
    bfd_up_everywhere(state)
    bfd(state, "lb1", False)
    clock.now += 0.12
    assert state.elect()["to"] == ["lb2"]
    clock.now += 0.046
    bfd(state, "lb2", False)                   # lb2's sessions stall
    assert state.elect() is None and state.active_proxy == "lb2"
    clock.now += 0.8
    bfd(state, "lb2", True)
    assert state.elect() is None and state.active_proxy == "lb2"
    clock.now += 2.0
    bfd(state, "lb1", True)                     # lb1 recovered: alive, BFD live
    assert state.elect() is None
    clock.now += 1.0
    assert state.elect()["to"] == ["lb1"]


def test_bfd_not_yet_up_is_not_held_against_a_proxy():
    """BFD comes up about a second after the links, one session at a time."""
    state, _clock = cluster(mode=ACTIVE_ACTIVE)
    for edge in ("s_pub", "s_lan"):
        state.port_status(edge, D.proxy_port(edge, "lb1"), True, live=True)
        state.port_status(edge, D.proxy_port(edge, "lb2"), True, live=False)
    assert state.elect() is None and state.proxies.active == ("lb1", "lb2")
    cable = next(c for c in state.status()["proxies"][1]["cables"] if c["switch"] == "s_pub")
    assert cable["bfd"] == "coming up"


def test_bfd_silent_towards_both_proxies_at_once_moves_nothing_until_the_probes_say():
    """A stall of the switches' own main thread silences every BFD session at once."""
    state, clock = cluster()
    for proxy in ("lb1", "lb2"):
        for edge in ("s_pub", "s_lan"):
            state.port_status(edge, D.proxy_port(edge, proxy), True, live=True)
    for proxy in ("lb1", "lb2"):
        for edge in ("s_pub", "s_lan"):
            state.port_status(edge, D.proxy_port(edge, proxy), True, live=False)
    assert state.elect() is None and state.active_proxy == "lb1"
    assert [p["role"] for p in state.status()["proxies"]] == ["active", "standby"]
    clock.now += 0.4
    probes_back(state, "lb2")                  # lb1 really hung: its probes stopped too
    assert state.elect()["to"] == ["lb2"]


def test_a_controller_behind_on_its_channels_holds_no_probe_against_a_proxy():
    """Under a flood of connection-log copies the probes queue behind them, the references too."""
    state, clock = cluster()
    clock.now += 0.1
    probes_back(state, "lb1", "lb2")
    sent = clock.now
    clock.now += 2.0                    # nothing back for 2 s: the channels are busy
    assert state.elect() is None
    for lag in (0.1, 0.2, 0.3, 0.4):    # then the backlog, in the order it was sent
        probes_back(state, "lb1", "lb2", sent_at=sent + lag)
        assert state.elect() is None and state.active_proxy == "lb1"


def test_a_late_answer_does_not_rewind_a_proxy():
    state, clock = cluster()
    clock.now += 0.5
    probes_back(state, "lb1", "lb2")
    for side in ("s_pub", "s_lan"):
        state.probe_reply("lb1", side, clock.now - 0.4)       # an old probe, overtaken
    clock.now += 0.3
    probes_back(state, "lb2")
    assert state.elect() is None and state.active_proxy == "lb1"
