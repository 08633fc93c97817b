"""The benchmark's plots are drawn from its results (synthetic here), skipped figures and all."""
import os
import sys

from core.paths import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import plots  # noqa: E402


def test_every_plot_is_drawn_from_results(tmp_path):
    timeline = [[t / 100, None if 0 <= t < 30 else 0.004] for t in range(-100, 200, 5)]
    results = {"rows": [{"variant": "sdn-dr", "static_close_rps": 1500, "static_keepalive_rps": 8000,
                         "app_close_rps": 1400, "bulk_1_mbps": 700, "bulk_4_mbps": 750},
                        {"variant": "peer", "static_close_rps": 2800,
                         "app_keepalive_rps": "skipped: wrk gave no report",
                         "bulk_1_mbps": "skipped: curl gave no figures"},
                        {"variant": "maglev", "maglev_moved_pct": 25.6}],
               "timelines": {"sdn-dr": {kind: timeline for kind in plots.FAILURES}, "baseline": {}},
               "load": {"steps": [[2.0, "web1 weight 1 -> 3"], [4.0, "web2 crashes"]],
                        "requests": [[t / 50, "web1" if t % 4 else ("web2" if t < 200 else None)]
                                     for t in range(400)]}}
    written = plots.draw(results, str(tmp_path))
    assert [os.path.basename(p) for p in written] == ["failover.png", "rates.png", "load.png"]
    for path in written:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_directory_without_results_is_refused_in_one_line(tmp_path, capsys):
    assert plots.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
