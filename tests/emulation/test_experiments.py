"""docs/EXPERIMENTS.md, run: each group of experiments that share a run.py line gets its cluster,
started from that line's flags as run.py would; every command of every `lvs` block is typed (the
cluster's own commands through the CLI, `NODE CMD` in that host's shell, as Mininet's CLI runs
it), and its output must be the one the page shows (tests/experiments.py's matching)."""
import logging
import os
import re

import pytest

from core.paths import ROOT
from tests.experiments import experiments, matches
from topologies.cli import ClusterCLI
from topologies.cluster import Cluster
from topologies.run import cluster_options, parse_args

pytestmark = pytest.mark.emulation

# bash's "[1] PID" for a command sent to the background: Mininet's Node.monitor() drops it when it
# reads it in one chunk with the PID marker after it, and shows it when the read splits them.
JOB_NOTICE = re.compile(r"^\[\d+\] \d+\r?\n", flags=re.M)


def page_groups():
    """The page's experiments, consecutive ones with the same run.py flags together."""
    with open(os.path.join(ROOT, "docs", "EXPERIMENTS.md")) as f:
        found = experiments(f.read())
    groups = []
    for experiment in found:
        if groups and groups[-1][-1].run_flags == experiment.run_flags:
            groups[-1].append(experiment)
        else:
            groups.append([experiment])
    return groups


class Said(logging.Handler):
    """What the CLI writes (Mininet's output() logs it on the `mininet` logger)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.text = ""

    def emit(self, record):
        self.text += record.getMessage()


def typed(cluster, cli, line):
    """The output of one line typed at the prompt."""
    node, _, command = line.partition(" ")
    if node in cluster.description.node_names and not hasattr(cli, "do_" + node):
        return JOB_NOTICE.sub("", cluster.host(node).cmd(command))
    said = Said()
    logger = logging.getLogger("mininet")
    logger.addHandler(said)
    try:
        cli.onecmd(line)
    finally:
        logger.removeHandler(said)
    return said.text


@pytest.mark.parametrize("group", page_groups(), ids=lambda g: " + ".join(e.title.split(".")[0] for e in g))
def test_every_command_of_the_page_shows_what_the_page_says(group, monkeypatch):
    monkeypatch.chdir(ROOT)          # the page's paths (the rules file, .venv) are the repository's
    with Cluster(**cluster_options(parse_args(group[0].run_flags))) as cluster:
        cli = ClusterCLI.__new__(ClusterCLI)       # not run: Mininet's CLI loops on stdin when made
        cli.cluster = cluster
        for experiment in group:
            for command, shown in experiment.steps:
                output = typed(cluster, cli, command).rstrip("\n").split("\n")
                output = [] if output == [""] else output
                assert matches(shown, output), "%s\nlvs> %s\nthe page shows:\n%s\nit printed:\n%s" % (
                    experiment.title, command, "\n".join(shown), "\n".join(output))
