"""The failover tests' verdict on which proxy carried the VIP, from sampled counters: it tolerates
OVS's counter lag around a hand-over and catches a real double carry or a flap."""
from tests.emulation.helpers import COUNTER_LAG, ProxySampler

A, B = frozenset({"lb1"}), frozenset({"lb2"})
BOTH = A | B


def verdict(timeline, phases=((0.0, "lb1"), (10.0, "lb2"))):
    sampler = ProxySampler(cluster=None)
    sampler.timeline = list(timeline)
    return sampler.handovers_violated(list(phases))


def test_a_clean_hand_over_passes():
    assert verdict([(1, A), (5, A), (10.4, B), (12, B)]) == []


def test_counters_catching_up_just_after_the_hand_over_pass():
    assert verdict([(1, A), (10.4, B), (10.5, A), (10.6, BOTH), (10.4 + COUNTER_LAG, B)]) == []


def test_both_proxies_carrying_after_the_hand_over_is_caught():
    assert verdict([(1, A), (10.4, B), (12, BOTH), (13, B)]) == [
        "lb1 carried the VIP at +12.00 s, when only lb2 should"]


def test_the_vip_flapping_back_is_caught():
    assert verdict([(1, A), (10.4, B), (14, A)]) == ["lb1 carried the VIP at +14.00 s, when only lb2 should"]


def test_the_standby_carrying_before_the_failure_is_caught():
    assert verdict([(1, A), (2, BOTH), (10.4, B)]) == ["lb2 carried the VIP at +2.00 s, when only lb1 should"]


def test_no_hand_over_at_all_is_caught():
    assert verdict([(1, A), (12, A)]) == ["lb2 never carried the VIP after +10.00 s"]


def test_failback_phases():
    phases = ((0.0, "lb1"), (10.0, "lb2"), (20.0, "lb1"))
    assert verdict([(1, A), (10.3, B), (20.2, A), (20.3, B), (25, A)], phases) == []
    assert verdict([(1, A), (10.3, B), (20.2, A), (25, B)], phases) == [
        "lb2 carried the VIP at +25.00 s, when only lb1 should"]


def test_a_new_carrier_whose_counter_catches_up_after_its_phase_still_counts():
    phases = ((0.0, "lb1"), (10.0, "lb2"), (11.0, "lb1"))
    assert verdict([(1, A), (11.3, B), (11.5, A), (14, A)], phases) == []
    assert verdict([(1, A), (12.5, A)], phases) == ["lb2 never carried the VIP after +10.00 s"]
