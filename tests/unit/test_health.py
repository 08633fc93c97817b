import pytest

from controller.health import CONFIRM, DEGRADED, DOWN, FAIL, OK, UNKNOWN, UP, ServerHealth, usable
from core.settings import HealthSettings


def fed(*results, fall=2, rise=2):
    health = ServerHealth(HealthSettings(fall=fall, rise=rise))
    for result in results:
        health.probe_result(result)
    return health.state


def test_first_good_probe_makes_a_server_up():
    assert fed() == UNKNOWN and fed(OK) == UP


def test_fall_bad_probes_in_a_row_fail_it():
    assert fed(OK, FAIL) == UP
    assert fed(OK, FAIL, FAIL) == DOWN
    assert fed(OK, FAIL, OK, FAIL) == UP
    assert fed(OK, FAIL, DEGRADED) == DEGRADED
    assert fed(OK, DEGRADED, FAIL, DEGRADED) == DEGRADED


def test_rise_good_probes_in_a_row_restore_it():
    assert fed(OK, FAIL, FAIL, OK) == DOWN
    assert fed(OK, FAIL, FAIL, OK, OK) == UP
    assert fed(OK, FAIL, FAIL, OK, FAIL, OK, OK, OK, fall=3, rise=3) == UP


def test_a_flapping_server_taken_out_by_a_passive_signal_comes_back_only_after_rise_good_checks():
    health = ServerHealth(HealthSettings(rise=3))
    for _ in range(3):                     # up, then out at each RST confirmed by failed checks
        health.probe_result(OK)
        assert health.extra_check_result(FAIL, "a RST") == CONFIRM
        assert health.extra_check_result(FAIL, "a RST") == DOWN and health.state == DOWN
        assert not health.probe_result(OK) and not health.probe_result(OK) and health.state == DOWN
        assert health.probe_result(OK) and health.state == UP


@pytest.mark.parametrize("fall", [1, 2, 3])
def test_an_extra_check_takes_a_server_out_only_when_fall_checks_in_a_row_fail(fall):
    health = ServerHealth(HealthSettings(fall=fall))
    health.probe_result(OK)
    for _ in range(fall - 1):
        assert health.extra_check_result(FAIL, "a RST") == CONFIRM and health.state == UP
    assert health.extra_check_result(FAIL, "a RST") == DOWN
    assert health.last_change_cause == "a RST, then %d failed checks" % fall


def test_one_failed_extra_check_between_good_ones_takes_nobody_out():
    health = ServerHealth(HealthSettings(fall=2))
    health.probe_result(OK)
    for good in (OK, DEGRADED):
        assert health.extra_check_result(FAIL, "a RST") == CONFIRM
        assert health.extra_check_result(good, "a RST") is None and health.state == UP
    assert health.extra_check_result(FAIL, "a RST") == CONFIRM
    health.probe_result(OK)                # a regular check found it healthy meanwhile
    assert health.extra_check_result(FAIL, "a RST") == CONFIRM and health.state == UP


def test_passive_signals_are_checked_at_most_once_an_interval_and_none_is_lost():
    health = ServerHealth(HealthSettings(interval=0.2))
    assert health.passive_signal(10.0) == 0
    assert health.passive_signal(10.05) == pytest.approx(0.15)      # waits for the interval's end
    assert health.passive_signal(10.1) is None                      # one is waiting already
    assert health.passive_signal(10.3) == pytest.approx(0.1)
    assert health.passive_signal(11.0) == 0


def test_a_down_server_that_answers_again_but_unhealthy_is_degraded_at_once():
    assert fed(OK, FAIL, FAIL, DEGRADED) == DEGRADED


def test_port_down_is_a_failure_at_once_and_says_so():
    health = ServerHealth(HealthSettings())
    health.probe_result(OK)
    assert health.link_down() and health.state == DOWN
    assert health.last_change_cause == "switch port down"
    assert not health.link_down()


def test_usable_prefers_up_then_degraded():
    assert usable({"a": UP, "b": DOWN, "c": DEGRADED}) == {"a"}
    assert usable({"a": UNKNOWN, "b": DOWN}) == {"a"}
    assert usable({"a": DEGRADED, "b": DOWN}) == {"a"}
    assert usable({"a": DOWN}) == set()


@pytest.mark.parametrize("settings,message", [
    (dict(interval=0), "interval must be from 0.01 to 60"),
    (dict(timeout="1"), "timeout must be"),
    (dict(fall=0), "fall must be an integer from 1 to 100"),
    (dict(rise=1.5), "rise must be an integer"),
    (dict(fall=True), "fall must be an integer from 1 to 100, got True"),     # a bool is not a number
    (dict(interval=float("inf")), "interval must be from 0.01 to 60 seconds, got inf"),
])
def test_nonsense_settings_are_refused_when_made(settings, message):
    with pytest.raises(ValueError, match=message):
        HealthSettings(**settings)
