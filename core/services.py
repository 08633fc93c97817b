"""The virtual services of a cluster, in ipvsadm's terms (core/ipvsadm.py): the default one, a
change applied and checked for the cluster (core/validation.py's rules), and a rules file read.

`load_rules` reads an ipvsadm-save rules file for a cluster and refuses its first line that
cannot work, naming the file, the line and what is wrong.
"""
from typing import Tuple

from core.description import ClusterDescription
from core.ipvsadm import (Command, IpvsadmError, RealServerEntry, ServiceKey, ServiceTable, VirtualService,
                          parse_command, rule_lines)
from core.validation import check_service, check_together


def default_services(description: ClusterDescription) -> Tuple[VirtualService, ...]:
    """The cluster's one service when none is given: TCP on the VIP's HTTP port, Maglev, every
    real server by the cluster's forwarding method at weight 1."""
    return (VirtualService(ServiceKey("tcp", description.vip, description.http_port), scheduler="mh",
                           real_servers=tuple(sorted(RealServerEntry(h.ip, description.http_port, description.mode)
                                                     for h in description.real_servers))),)


def apply_checked(description: ClusterDescription, table: ServiceTable, command: Command,
                  at_run_time: bool = True) -> str:
    """Apply one change to `table` and check it for the cluster (`at_run_time`: the running
    one): the service it names, and every service beside the others. IpvsadmError if it cannot
    work (the table may then be changed: a caller that must keep it works on a copy). What it
    did, in words."""
    said = table.apply(command)
    if command.key in table.services:
        check_service(description, table.services[command.key], at_run_time)
    check_together(list(table.services.values()))
    return said


def load_rules(text: str, source: str, description: ClusterDescription) -> Tuple[VirtualService, ...]:
    """The services a rules file defines for a cluster about to start; IpvsadmError naming the
    file and the first line that cannot work (as ipvsadm -R stops at the first bad line)."""
    table = ServiceTable()
    for number, line in rule_lines(text):
        try:
            apply_checked(description, table, parse_command(line), at_run_time=False)
        except IpvsadmError as e:
            raise IpvsadmError("%s line %d: %s" % (source, number, e)) from None
    return tuple(table.services[key] for key in sorted(table.services))
