"""The controller's background loops go on through a round that raises, and a loop that stops
going round shows as stale."""
import pytest

from controller.loops import STALE_MIN_SECONDS, Loops


class Stop(BaseException):
    """Ends a loop in a test (as killing its green thread does)."""


class FakeTime:
    def __init__(self, rounds):
        self.now, self.rounds = 0.0, rounds

    def clock(self):
        return self.now

    def sleep(self, seconds):
        if self.rounds == 0:
            raise Stop()
        self.rounds -= 1
        self.now += seconds


def run(loops, name, interval, one_round):
    with pytest.raises(Stop):
        loops.run(name, interval, one_round)


def test_a_round_that_raises_is_reported_and_the_loop_goes_on():
    t, failed, done = FakeTime(rounds=4), [], []
    loops = Loops(t.clock, t.sleep, lambda name, error: failed.append((name, str(error))))

    def one_round():
        done.append(t.now)
        if len(done) == 2:
            raise KeyError("lb2")          # a proxy that left mid-round
    run(loops, "counter-poller", 1.0, one_round)
    assert done == [1.0, 2.0, 3.0, 4.0]
    assert failed == [("counter-poller", "'lb2'")]
    status = loops.status()["counter-poller"]
    assert status == {"interval_s": 1.0, "last_round_s_ago": 0.0, "failed_rounds": 1, "stale": False}


def test_a_loop_that_stops_going_round_becomes_stale():
    t = FakeTime(rounds=2)
    loops = Loops(t.clock, t.sleep, lambda *_: None)
    run(loops, "proxy-prober", 0.1, lambda: None)
    assert not loops.stale("proxy-prober")
    t.now += STALE_MIN_SECONDS + 0.1
    assert loops.status()["proxy-prober"]["stale"]


def test_a_loop_whose_every_round_fails_is_stale_too():
    t = FakeTime(rounds=50)
    loops = Loops(t.clock, t.sleep, lambda *_: None)

    def broken():
        raise RuntimeError("always")
    run(loops, "block-expiry", 0.5, broken)
    status = loops.status()["block-expiry"]
    assert status["failed_rounds"] == 50 and status["last_round_s_ago"] is None and status["stale"]


@pytest.mark.parametrize("wanted", [("proxy-prober",), ("all",)])
def test_an_injected_fault_fails_the_first_round_only(wanted):
    t, failed, done = FakeTime(rounds=3), [], []
    loops = Loops(t.clock, t.sleep, lambda name, error: failed.append(type(error).__name__), fault_once=wanted)
    run(loops, "proxy-prober", 0.1, lambda: done.append(1))
    assert failed == ["InjectedFault"] and len(done) == 2
    t.rounds = 2
    run(loops, "block-expiry", 0.5, lambda: done.append(2))
    assert failed == ["InjectedFault"] * (2 if wanted == ("all",) else 1)
