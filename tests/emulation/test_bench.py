"""scripts/bench.py --quick produces every figure for every director, as a number or as a figure
skipped with its reason, and prints the table a full run writes into docs/BENCHMARKS.md. Speed is
the benchmark's to report, not the test's to assert."""
import json
import math
import os
import subprocess
import sys

import pytest

from core.paths import ROOT
from topologies.runstate import RUNS_DIR_ENV

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench  # noqa: E402

pytestmark = pytest.mark.emulation
BENCH = os.path.join(ROOT, "scripts", "bench.py")


def test_the_quick_benchmark_produces_every_figure():
    out = os.path.join(os.environ[RUNS_DIR_ENV], "bench")
    with open(bench.DOCS_PAGE) as f:
        page = f.read()
    result = subprocess.run([sys.executable, BENCH, "--quick", "--out", out], capture_output=True, text=True,
                            timeout=420)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    rows = {row["variant"]: row for row in results["rows"]}
    assert set(rows) == set(bench.VARIANTS) - set(bench.FULL_RUN_ONLY) | {"maglev"}
    assert {"cores", "kernel", "ovs", "commit", "datapath"} <= set(results["machine"])
    for variant, row in rows.items():
        for figure, value in row.items():
            if figure == "variant":
                continue
            numeric = isinstance(value, (int, float)) and math.isfinite(value)
            assert numeric or str(value).startswith("skipped: "), (variant, figure, value)
    for figure in ("static_close_rps", "app_keepalive_rps", "bulk_4_mbps", "openloop_p99", "synflood_close_rps",
                   "static_close_xlate_per_conn", "static_close_upcalls_per_conn"):
        assert isinstance(rows["sdn-nat"][figure], (int, float)), figure     # no tool is missing here
    assert isinstance(rows["peer"]["gap_link_ms"], (int, float))
    assert "| static_close_rps |" in result.stdout
    # the table a full run writes into docs/BENCHMARKS.md, made the same way; a quick run leaves the docs alone
    table = bench.markdown([r for r in results["rows"] if r["variant"] != "maglev"])
    assert table in result.stdout and table in bench.tables(results)["figures"]
    with open(bench.DOCS_PAGE) as f:
        assert f.read() == page
    assert [(row["clients"], row["webs"]) for row in results["scale"]] == [(2, 1), (4, 2)]
    for row in results["scale"]:
        assert all(isinstance(v, (int, float)) for k, v in row.items() if k != "variant"), row
        assert row["failed_requests"] == 0 and row["served_real_servers"] == row["webs"], row
        assert row["health_changes"] == row["bfd_downs"] == row["proxy_failovers"] == 0, row
