"""Counters read from stats replies (controller/counters.py), with stats shaped as Ryu's."""
from types import SimpleNamespace as Stat

from controller.counters import FLOWS, METER, Counters, forward_counters, meter_counts, opened_counters, polls
from controller.flows import switch_meters
from controller.pipeline import FIN_SET, LOG_METER, SYN_ONLY, T_FORWARD, T_SELECTED
from controller.specs import destination
from controller.state import ClusterState
from core.builder import describe
from core.eventlog import latest_records

IDS = (1, 2)       # the destinations known


def flow(packets, bytes_=0, **match):
    return Stat(match=match, packet_count=packets, byte_count=bytes_)


def test_forward_counters_add_up_per_real_server_and_count_the_fins():
    stats = [flow(10, 1000, reg1=1), flow(3, 180, reg1=1, tcp_flags=FIN_SET), flow(5, 500, reg1=2),
             flow(99, 9, reg1=7), flow(42, 42)]              # an unknown id, and no server at all
    assert forward_counters(stats, IDS) == {1: {"packets": 13, "bytes": 1180, "closed": 3},
                                            2: {"packets": 5, "bytes": 500, "closed": 0}}


def test_opened_counters_are_the_syns_given_to_each_server():
    stats = [flow(4, reg1=1, tcp_flags=SYN_ONLY), flow(8, reg1=1), flow(2, reg1=2, tcp_flags=SYN_ONLY)]
    assert opened_counters(stats, IDS) == {1: 4, 2: 2}


def test_a_meter_counts_what_entered_it_and_what_its_bands_dropped():
    stats = [Stat(packet_in_count=120, band_stats=[Stat(packet_band_count=20), Stat(packet_band_count=5)])]
    assert meter_counts(stats) == (120, 25)
    assert meter_counts([]) == (0, 0)


def test_the_latest_records_skip_a_line_cut_or_being_written(tmp_path):
    path = tmp_path / "alerts.jsonl"
    path.write_text("".join('{"n": %d}\n' % n for n in range(30)) + '{"n": 3')
    assert [r["n"] for r in latest_records(str(path), 3)] == [29, 28, 27]
    assert [r["n"] for r in latest_records(str(path), 5, tail_bytes=30)] == [29, 28]   # the one before, cut
    assert latest_records(str(tmp_path / "none"), 3) == [] and latest_records(None, 3) == []


def test_many_destinations_are_polled_less_often_and_the_meters_every_round():
    d = describe()
    rounds = [bool(polls(d, "lb1", destinations=512, round_number=n)) for n in range(8)]
    assert rounds == [True, False, False, False] * 2                      # every 4 s at 512
    assert all(polls(d, "lb2", destinations=128, round_number=n) for n in range(3))
    assert all(polls(d, "s_pub", destinations=512, round_number=n) for n in range(3))


def test_each_switch_is_polled_for_what_it_counts_and_the_replies_reach_the_state():
    d = describe()
    assert polls(d, "lb1") == [(FLOWS, T_FORWARD), (FLOWS, T_SELECTED)]
    assert polls(d, "s_pub") == [(METER, m) for m in switch_meters(d, "s_pub")]
    state = ClusterState(d)
    counters = Counters(state)
    web1 = destination(1, state.server_ids["web1"])       # web1 in the first service
    assert counters.polled("lb1", (FLOWS, T_FORWARD), [flow(7, 700, reg1=web1)]) == []
    assert counters.polled("lb1", (FLOWS, T_SELECTED), [flow(2, reg1=web1, tcp_flags=SYN_ONLY)]) == []
    assert state.counters["lb1"][web1] == {"packets": 7, "bytes": 700, "closed": 0, "opened": 2}
    meter = [Stat(packet_in_count=100, band_stats=[Stat(packet_band_count=0)])]
    counters.polled("s_pub", (METER, LOG_METER), meter)
    dropping = [Stat(packet_in_count=250, band_stats=[Stat(packet_band_count=60)])]
    (event,) = counters.polled("s_pub", (METER, LOG_METER), dropping)
    assert event.action == "log-copies-dropped" and state.log_copies_dropped == 60


def test_persistence_entries_are_read_from_the_learned_flows_and_polled_every_few_rounds():
    from ryu.ofproto.ofproto_v1_3_parser import OFPActionSetField, OFPInstructionActions
    from controller.counters import AFFINITY_POLL_ROUNDS, affinity_entries
    from controller.pipeline import COOKIE_AFFINITY, COOKIE_LB, T_AFFINITY

    def learned(cookie, **match):
        return Stat(cookie=cookie, match=match, packet_count=9, duration_sec=3,
                    instructions=[OFPInstructionActions(4, [OFPActionSetField(reg1=0x101)])])
    stats = [learned(COOKIE_AFFINITY, eth_type=0x800, reg2=1, ipv4_src=("10.0.0.0", "255.255.255.0")),
             learned(COOKIE_AFFINITY, eth_type=0x800, reg2=1, ipv4_src="10.0.0.12"),
             learned(COOKIE_LB)]                                          # the table's own miss flow
    assert affinity_entries(stats) == [
        {"index": 1, "client": "10.0.0.0/24", "destination": 0x101, "packets": 9, "age_s": 3},
        {"index": 1, "client": "10.0.0.12/32", "destination": 0x101, "packets": 9, "age_s": 3}]
    d = describe()
    assert [(FLOWS, T_AFFINITY) in polls(d, "lb1", round_number=n, persistent=True)
            for n in range(AFFINITY_POLL_ROUNDS)] == [True] + [False] * (AFFINITY_POLL_ROUNDS - 1)
    assert (FLOWS, T_AFFINITY) not in polls(d, "lb1")
