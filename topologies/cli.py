"""The Mininet CLI with the cluster's own commands."""
import json

from mininet.cli import CLI
from mininet.log import output

from topologies.faults import FAILURE_KINDS
from topologies.lbtable import format_status
from topologies.runstate import ClusterError


# The cluster's commands, each with its usage and one line (help CMD gives its docstring).
EXTRA_COMMANDS = (
    ("lb", "lb [-Ln|-S|-A|-E|-D|-a|-e|-d ...]", "the virtual services, as ipvsadm shows and changes them"),
    ("status", "status [--json]", "the VIPs, proxies, real servers, switches and log, in a few lines"),
    ("trace", "trace SRC DST [PORT] [udp|icmp] [sport=N]", "what a packet meets, switch by switch, and why"),
    ("alerts", "alerts", "what the log reviewer flagged, and the sources blocked now"),
    ("fail", "fail NODE KIND", "fail a web, DB or proxy host or the controller (crash, link, hang)"),
    ("recover", "recover NODE", "undo a fail (the controller: restart it)"),
)


class ClusterCLI(CLI):
    prompt = "lvs> "

    def __init__(self, cluster, **kwargs):
        self.cluster = cluster
        output("Extra commands: %s (help lists them, help CMD says more)\n" % ", ".join(c[0] for c in EXTRA_COMMANDS))
        super().__init__(cluster.net, **kwargs)

    def run(self):
        """As Mininet's, except that Ctrl-C at the prompt leaves (and tears down) instead of
        printing 'Interrupt'; Ctrl-C during a node's command still only interrupts that."""
        try:
            self.cmdloop()
        except KeyboardInterrupt:
            output("\n")

    def do_help(self, line):
        """help [CMD]: this cluster's commands, one line each, then Mininet's; help CMD says more."""
        if line.strip():
            super().do_help(line)
            return
        output("The cluster's commands:\n")
        for _, usage, said in EXTRA_COMMANDS:
            output("  %-42s %s\n" % (usage, said))
        output("Mininet's own (nodes, net, pingall, NODE CMD, ...): help mininet; quit or Ctrl-D leaves\n")

    def help_mininet(self):
        super().do_help("")

    @staticmethod
    def _try(action, *args):
        """Run a cluster action and show what it says, or its error."""
        try:
            said = action(*args)
        except ClusterError as e:
            output("error: %s\n" % e)
            return
        if isinstance(said, str):
            output(said + "\n")

    def do_status(self, line):
        """status [--json]: the controller's view in a dozen lines: the VIPs, the proxies and the
        last failover, the real servers, the switches, the connection log (--json: GET
        /lb/status whole)."""
        if line.strip() not in ("", "--json"):
            output("usage: status [--json]\n")
            return
        shown = (lambda s: json.dumps(s, indent=1)) if line.strip() else format_status
        self._try(lambda: shown(self.cluster.rest("GET", "/lb/status")))

    def do_lb(self, line):
        """lb: the virtual services and their real servers, as `ipvsadm -Ln`; lb takes ipvsadm's
        own commands: -Ln [--stats|--rate], -S (the rules, as ipvsadm -S -n saves them), and the
        changes -A -E -D -a -e -d (for instance lb -A -u 10.0.0.100:53 -s mh)."""
        self._try(self.cluster.ipvsadm, line.strip() or "-Ln")

    def do_trace(self, line):
        """trace SOURCE DESTINATION [PORT] [tcp|udp|icmp] [sport=N]: what a connection's first
        packet from host SOURCE to DESTINATION (an address or a host) meets, switch by switch, and
        where it ends (for instance trace c1 10.0.0.100 80 sport=40000)."""
        words = line.split()
        if len(words) < 2:
            output("usage: trace SOURCE DESTINATION [PORT] [tcp|udp|icmp] [sport=N]\n")
            return
        options = {"protocol": next((w for w in words[2:] if w in ("tcp", "udp", "icmp")), "tcp")}
        for word in words[2:]:
            if word.startswith("sport="):
                options["sport"] = word[len("sport="):]
            elif word not in ("tcp", "udp", "icmp"):
                options["port"] = word
        self._try(lambda: "\n".join(self.cluster.trace(words[0], words[1], **options)["lines"]))

    def do_alerts(self, _line):
        """alerts: what the log reviewer flagged, and the sources blocked now."""
        alerts = self.cluster.alerts()
        if not self.cluster.review:
            output("the log reviewer is off (run.py --no-review)\n")
        for alert in alerts:
            evidence = ", ".join("%s=%s" % (k, v if not isinstance(v, list) else len(v))
                                 for k, v in sorted(alert["evidence"].items()))
            output("%s  %-18s %-15s %s\n" % (alert["@timestamp"], alert["rule.name"], alert["source.ip"], evidence))
        output("%d alerts\n" % len(alerts))
        self._try(lambda: output("blocked now: %s\n" % (", ".join(
            "%s (%ds left, %s)" % (b["ip"], b["seconds_left"], b["reason"])
            for b in self.cluster.rest("GET", "/lb/blocks")["blocks"]) or "none")))

    def do_fail(self, line):
        words = line.split()
        if len(words) != 2:
            output("usage: fail NODE KIND   kinds by role: %s\n" % "; ".join(
                "%s: %s" % (role, ", ".join(kinds)) for role, kinds in FAILURE_KINDS.items()))
            return
        self._try(self.cluster.fail, *words)

    do_fail.__doc__ = ("fail NODE KIND: web/db host: crash (its service killed) or link (cables cut); "
                       "proxy: crash (switch gone), link, or hang (forwards nothing, channel up); "
                       "controller: crash (SIGKILL; recover restarts it with its saved state)")

    def do_recover(self, line):
        """recover NODE: undo `fail NODE ...` (for the controller: restart it)."""
        words = line.split()
        if len(words) != 1:
            output("usage: recover NODE\n")
            return
        self._try(self.cluster.recover, words[0])
