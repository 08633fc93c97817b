"""The chaos soak's pure parts (scripts/chaos.py): its seeded schedule and its verdict."""
import os
import sys

from core.paths import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import chaos  # noqa: E402


def test_the_same_seed_gives_the_same_schedule_and_every_target_comes_up():
    assert chaos.schedule(1, 300) == chaos.schedule(1, 300) != chaos.schedule(2, 300)
    for seed in range(20):
        faults = chaos.schedule(seed, 300)
        assert {f.target for f in faults} == set(chaos.TARGETS)
        assert faults[0].at == chaos.WARMUP
        for before, after in zip(faults, faults[1:]):       # one at a time
            assert after.at >= before.at + before.hold + chaos.QUIET[0]
        assert faults[-1].at + faults[-1].hold + chaos.TAIL <= 300
        assert all(f.kind in ("crash", "link", "hang") and (f.kind != "hang" or f.target == "proxy")
                   for f in faults)


def test_a_soak_too_short_for_a_fault_has_none():
    assert chaos.schedule(1, chaos.WARMUP + chaos.TAIL) == []


def client(**changes):
    report = {"client": "c1", "turns": 100, "requests": 102, "failed": 0, "lost": [], "duplicated": [],
              "unexpected": [], "in_order": True, "finished": True, "max_gap_s": 0.2, "error": ""}
    return dict(report, **changes)


def result(clients, samples=(), steady=None, final=None):
    flows = {"s_pub": 76}
    return {"clients": clients, "samples": list(samples), "steady_flows": steady or flows,
            "final_flows": final or flows}


def sample(t, pid, rss):
    return {"t": t, "pid": pid, "rss_mb": rss, "open_files": 17, "flows": {}}


def test_the_verdict_names_each_broken_promise():
    assert chaos.verdict(result([client()])) == []
    assert "lost ['c1-7']" in chaos.verdict(result([client(lost=["c1-7"], in_order=False)]))[0]
    assert "2 of 102 requests failed" in chaos.verdict(result([client(failed=2)]))[0]
    grown = [sample(0, 7, 60), sample(31, 7, 66), sample(90, 7, 80), sample(92, 8, 61)]
    assert chaos.verdict(result([client()], grown)) == ["controller pid 7 grew from 66.0 MB after warm-up "
                                                        "to 80.0 MB in 90 s"]
    assert "did not return" in chaos.verdict(result([client()], final={"s_pub": 75}))[0]


def test_a_controller_life_too_short_for_a_warm_up_is_not_judged():
    assert chaos.memory_lives([sample(0, 7, 60), sample(20, 7, 90)]) == []
