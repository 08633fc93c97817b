"""docs/EXPERIMENTS.md as tests/experiments.py reads it (tests/emulation/test_experiments.py runs
it): at least six experiments, each with its cluster and commands, and the matching rules."""
import os

import pytest

from core.paths import ROOT
from tests.experiments import experiments, matches, steps
from topologies.run import parse_args


def page():
    with open(os.path.join(ROOT, "docs", "EXPERIMENTS.md")) as f:
        return f.read()


def test_the_page_holds_at_least_six_experiments_each_with_a_cluster_and_commands():
    found = experiments(page())
    assert len(found) >= 6
    for experiment in found:
        assert experiment.steps, experiment.title
        parse_args(experiment.run_flags)        # flags run.py takes


def test_a_block_of_commands_and_what_each_shows():
    assert steps("lvs> lb\nline 1\nline 2\nlvs> c1 sleep 1\n") == [("lb", ["line 1", "line 2"]), ("c1 sleep 1", [])]
    with pytest.raises(ValueError, match="must start with a command"):
        steps("output first\nlvs> lb\n")


@pytest.mark.parametrize("shown, output, expected", [
    (["a", "b"], ["a", "b"], True),
    (["a"], ["a", "b"], False),
    (["a", "..."], ["a", "b", "c"], True),
    (["...", "c"], ["a", "b", "c"], True),
    (["...", "x", "..."], ["a", "b"], False),
    (["served by web*, port *"], ["served by web2, port 8080"], True),
    (["served by web*"], ["served by db1 at web2"], False),
    (["[no real server up] (x)"], ["[no real server up] (x)  "], True),
    ([], [], True),
])
def test_a_star_stands_for_anything_and_dots_for_any_lines(shown, output, expected):
    assert matches(shown, output) is expected
