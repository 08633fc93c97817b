import pytest

from controller.health import DEGRADED, DOWN, FAIL, OK, UNKNOWN, UP, ServerHealth, usable
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
    for _ in range(3):                     # up, then out at each RST confirmed by a failed check
        health.probe_result(OK)
        assert health.confirm_failure("a RST") and health.state == DOWN
        assert not health.probe_result(OK) and not health.probe_result(OK) and health.state == DOWN
        assert health.probe_result(OK) and health.state == UP


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
