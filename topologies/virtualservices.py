"""The virtual services as the harness carries them: each real server set up (topologies/
forwarding.py) and served (topologies/realservers.py) for every service it is given, at start
and when ipvsadm's commands change the services at run time; those commands, the `lb` prompt's
and `cluster.ipvsadm(...)`'s, go to the controller once the real servers are ready for them."""
import time

from core.ipvsadm import IpvsadmError, ServiceTable, parse_command
from core.services import load_rules
from core.validation import check_service, check_together
from topologies import forwarding
from topologies.hostsetup import host_commands
from topologies.lbtable import format_services, rates
from topologies.runstate import ClusterError

RATE_SECONDS = 1.0      # lb -Ln --rate: the counters compared this far apart


class VirtualServices:
    def __init__(self, cluster):
        self.cluster = cluster
        self.current = cluster.description.services
        self.applied = {}       # web host -> the set-up commands run in it

    def set_up(self):
        """Every real server set up for what the current services give it (once each command)."""
        d = self.cluster.description
        for web in d.real_servers:
            done = self.applied.setdefault(web.name, [])
            new = [c for c in forwarding.real_server_setup(d, web, self.current) if c not in done]
            host_commands(self.cluster, web.name, new)
            done += new

    def ipvsadm(self, line):
        """One ipvsadm command, as `ipvsadm` takes it (without the program's name): -L (with -n,
        --stats or --rate) and -S print the services; -A -E -D -C -a -e -d change them. The
        command's output, or ClusterError with the refusal."""
        try:
            command = parse_command(line)
        except IpvsadmError as e:
            raise ClusterError("ipvsadm %s: %s" % (line, e)) from None
        if command.op == "-S":
            return self._listing()["rules"].rstrip("\n")
        if command.op == "-L":
            return self._table(next((f for f in command.flags if f != "-n"), None))
        self._prepare(command)
        try:
            return self.cluster.rest("POST", "/lb/ipvsadm", {"command": line})["done"]
        finally:
            self.current = self._services_now()

    def _services_now(self):
        return load_rules(self._listing()["rules"], "the controller's services", self.cluster.description)

    def _listing(self):
        return self.cluster.rest("GET", "/lb/services")

    def _table(self, flag):
        services = self._listing()["services"]
        found = None
        if flag == "--rate":
            time.sleep(RATE_SECONDS)
            later = self._listing()["services"]
            services, found = later, rates(services, later, RATE_SECONDS)
        return format_services(services, self.cluster.rest("GET", "/lb/status"), flag, found)

    def _prepare(self, command):
        """The change checked as the controller will check it, and the real servers set up and
        serving what it gives them before the controller sends them anything."""
        d = self.cluster.description
        table = ServiceTable(self._services_now())
        try:
            table.apply(command)
            if command.key in table.services:
                check_service(d, table.services[command.key])
            check_together(list(table.services.values()))
        except IpvsadmError as e:
            raise ClusterError("ipvsadm: %s" % e) from None
        methods = {e.method for s in table.services.values() for e in s.real_servers}
        if "tun" in methods - d.methods:
            raise ClusterError("ipvsadm: the proxies' tunnel ports are made at start: start the cluster with a "
                               "TUN service (or --mode tun) to add TUN real servers at run time")
        self.current = tuple(table.services[key] for key in sorted(table.services))
        self.set_up()
        self.cluster.real_servers.follow()
