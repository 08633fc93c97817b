"""scripts/bench.py refuses bad flags in one line (exit 2) before it starts anything, and a
machine without the peer's daemons skips the peer's variants rather than the whole run."""
import json
import os
import subprocess
import sys

import pytest

from core.paths import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import bench  # noqa: E402


@pytest.mark.parametrize("args, message", [
    (["--variants", "sdn-foo"], "unknown variant 'sdn-foo': choose from baseline, sdn-nat"),
    (["--variants", ","], "unknown variant '': choose from"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_flags_get_one_line_and_exit_2(args, message):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench.py")] + args,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_the_peer_variants_name_the_daemons_a_machine_lacks(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))          # a machine with nothing installed
    assert bench.missing_daemons("peer") == ["haproxy", "keepalived"]
    assert bench.missing_daemons("peer-default") == ["haproxy", "keepalived"]
    assert bench.missing_daemons("sdn-nat") == []


def test_each_figure_shows_its_ratio_to_the_baseline():
    rows = [{"variant": "baseline", "rps": 4000, "gap": "skipped: no director"},
            {"variant": "sdn-nat", "rps": 2000, "gap": 230}]
    table = bench.markdown(rows)
    assert "| rps | 4000 | 2000 (0.50x) |" in table
    assert "| gap | skipped: no director | 230 |" in table


@pytest.mark.parametrize("args, message", [
    (["--mode", "gre"], "unknown mode 'gre': choose one of nat, tun, dr"),
    (["--idle-minutes", "-1"], "--idle-minutes must be from 0 to 1440 minutes, got -1"),
    (["--idle-minutes", "0", "--load-minutes", "0"], "nothing to soak"),
    (["--load-minutes", "soon"], "argument --load-minutes: invalid float value: 'soon'"),
])
def test_the_soak_refuses_bad_flags_in_one_line(args, message):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "soak.py")] + args,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_the_tables_in_the_docs_are_the_ones_the_last_full_run_wrote():
    """docs/BENCHMARKS.md's figures are generated: rewriting them from docs/bench-results.json (the
    last full run's results, which bench.py copies there) changes nothing."""
    with open(bench.DOCS_RESULTS) as f:
        results = json.load(f)
    with open(bench.DOCS_PAGE) as f:
        page = f.read()
    assert not results["quick"]
    assert bench.with_tables(page, results) == page
    assert set(bench.tables(results)) == {"figures", "scale"}


def test_a_page_without_a_region_is_refused_naming_it():
    with open(bench.DOCS_RESULTS) as f:
        results = json.load(f)
    with pytest.raises(ValueError, match="docs/BENCHMARKS.md has no region 'figures'"):
        bench.with_tables("# no tables here\n", results)
