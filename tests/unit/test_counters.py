"""Counters read from stats replies (controller/counters.py), with stats shaped as Ryu's."""
from types import SimpleNamespace as Stat

from controller.counters import forward_counters, meter_counts, opened_counters
from controller.pipeline import FIN_SET, SYN_ONLY
from core.eventlog import latest_records

IDS = {"web1": 1, "web2": 2}


def flow(packets, bytes_=0, **match):
    return Stat(match=match, packet_count=packets, byte_count=bytes_)


def test_forward_counters_add_up_per_real_server_and_count_the_fins():
    stats = [flow(10, 1000, reg1=1), flow(3, 180, reg1=1, tcp_flags=FIN_SET), flow(5, 500, reg1=2),
             flow(99, 9, reg1=7), flow(42, 42)]              # an unknown id, and no server at all
    assert forward_counters(stats, IDS) == {"web1": {"packets": 13, "bytes": 1180, "closed": 3},
                                            "web2": {"packets": 5, "bytes": 500, "closed": 0}}


def test_opened_counters_are_the_syns_given_to_each_server():
    stats = [flow(4, reg1=1, tcp_flags=SYN_ONLY), flow(8, reg1=1), flow(2, reg1=2, tcp_flags=SYN_ONLY)]
    assert opened_counters(stats, IDS) == {"web1": 4, "web2": 2}


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
