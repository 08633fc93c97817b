"""The CLI's `lb` command on a stand-in cluster (the emulation tests drive the harness itself)."""
import logging

from topologies.cli import ClusterCLI

BACKENDS = {"mode": "dr", "protocol": "tcp", "vip": "10.0.0.100", "port": 80, "scheduler": "maglev",
            "backends": [{"rip": "10.0.1.11", "port": 80, "weight": 2, "in_service": True}]}


class StandIn:
    """Answers the REST calls `lb -S` makes."""

    def rest(self, method, path):
        assert (method, path) == ("GET", "/lb/backends")
        return BACKENDS


def said(caplog, line):
    cli = ClusterCLI.__new__(ClusterCLI)       # not run: Mininet's CLI loops on stdin when made
    cli.cluster = StandIn()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="mininet"):
        cli.do_lb(line)
    return "".join(r.getMessage() for r in caplog.records)


def test_lb_s_prints_the_rules_as_ipvsadm_saves_them(caplog):
    assert said(caplog, "-S") == "-A -t 10.0.0.100:80 -s mh\n-a -t 10.0.0.100:80 -r 10.0.1.11:80 -g -w 2\n"
    assert said(caplog, "-S -n") == said(caplog, "-S")


def test_lb_with_anything_else_says_what_it_takes(caplog):
    assert said(caplog, "-X").startswith("usage: lb (the table, as ipvsadm -Ln --stats) or lb -S")
