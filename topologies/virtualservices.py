"""The virtual services as the harness carries them: each real server set up (topologies/
forwarding.py) and served (topologies/realservers.py) for every service it is given, at start
and when ipvsadm's commands change the services at run time; those commands, the `lb` prompt's
and `cluster.ipvsadm(...)`'s, go to the controller once the real servers are ready for them."""
import dataclasses
import time

from core.ipvsadm import IpvsadmError, RealServerEntry, ServiceTable, parse_command
from core.services import apply_checked, load_rules
from core.validation import check_service
from topologies import forwarding
from topologies.hostsetup import host_commands
from topologies.lbtable import format_entries, format_services, rates
from topologies.runstate import ClusterError, wait_until

RATE_SECONDS = 1.0      # lb -Ln --rate: the counters compared this far apart
SYNC_SECONDS = 10       # a change's flows confirmed by every switch within this, or ClusterError


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
        command's output, or ClusterError with the refusal. A change returns once every switch
        has confirmed its flows: what comes next meets it."""
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
            done = self.cluster.rest("POST", "/lb/ipvsadm", {"command": line})["done"]
        finally:
            self.current = self._services_now()
        wait_until("every switch to confirm the change",
                   lambda: self.cluster.rest("GET", "/lb/status")["flows_in_sync"], timeout=SYNC_SECONDS)
        return done

    def _services_now(self):
        """The controller's services: its rules, and each one's sorry server (which ipvsadm's
        rules cannot say)."""
        listing = self._listing()
        sorry = {s["service"]: s["sorry_server"] for s in listing["services"]}
        return tuple(dataclasses.replace(s, sorry_server=_entry(sorry.get(str(s.key))))
                     for s in load_rules(listing["rules"], "the controller's services", self.cluster.description))

    def _take(self, services):
        """The services the real servers are set up for from now on."""
        self.current = tuple(sorted(services, key=lambda s: s.key))

    def set_sorry_server(self, service, address=None, port=None, method=None):
        """Give a service (as ipvsadm writes it, "-t 10.0.0.102:9000") a sorry server, at its
        address and port (the service's by default) by its method (the cluster's by default), or
        none (address None): the host is set up and serving first, then the controller told.
        What the controller did, or ClusterError."""
        try:
            key = parse_command("-D " + service).key
        except IpvsadmError as e:
            raise ClusterError("sorry server: %s" % e) from None
        assert key is not None, "-D names a service"
        d = self.cluster.description
        entry = None if address is None else RealServerEntry(address, port or key.port, method or d.mode)
        services = {s.key: s for s in self._services_now()}
        if key not in services:
            raise ClusterError("sorry server: no virtual service %s" % service)
        try:
            changed = dataclasses.replace(services[key], sorry_server=entry)
            check_service(d, changed, at_run_time=True)
        except IpvsadmError as e:
            raise ClusterError("sorry server: %s" % e) from None
        self._take([changed if k == key else s for k, s in services.items()])
        self.set_up()
        self.cluster.real_servers.follow()
        body = None if entry is None else {"address": entry.address, "port": entry.port, "method": entry.method}
        try:
            return self.cluster.rest("PUT", "/lb/services/%s/%s/%d" % (key.protocol, key.vip, key.port),
                                     {"sorry_server": body})
        finally:
            self.current = self._services_now()

    def _listing(self):
        return self.cluster.rest("GET", "/lb/services")

    def _table(self, flag):
        services = self._listing()["services"]
        found = None
        if flag == "--rate":
            time.sleep(RATE_SECONDS)
            later = self._listing()["services"]
            services, found = later, rates(services, later, RATE_SECONDS)
        table = format_services(services, self.cluster.rest("GET", "/lb/status"), flag, found)
        if flag == "--persistent-conn":
            table += "\n" + format_entries(self.cluster.rest("GET", "/lb/persistence")["entries"])
        return table

    def _prepare(self, command):
        """The change checked as the controller will check it, and the real servers set up and
        serving what it gives them before the controller sends them anything."""
        d = self.cluster.description
        table = ServiceTable(self._services_now())
        try:
            apply_checked(d, table, command)
        except IpvsadmError as e:
            raise ClusterError("ipvsadm: %s" % e) from None
        self._take(table.services.values())
        self.set_up()
        self.cluster.real_servers.follow()


def _entry(sorry):
    return None if sorry is None else RealServerEntry(sorry["address"], sorry["port"], sorry["method"])
