"""The virtual services of a cluster, in ipvsadm's terms (core/ipvsadm.py), and whether they fit
the cluster: each VIP a free host address of the public net, each real server a web host the
service's forwarding method can reach, a scheduler this project carries out.

`load_rules` reads an ipvsadm-save rules file for a cluster and refuses its first line that
cannot work, naming the file, the line and what is wrong.
"""
from typing import Optional, Tuple

from core.description import ClusterDescription, Host
from core.ipvsadm import (DEFAULT_SCHEDULER, IpvsadmError, RealServerEntry, ServiceKey, ServiceTable,
                          VirtualService, parse_command, rule_lines)
from core.validation import check_vip_of

SCHEDULERS = {"mh": "weighted Maglev consistent hashing"}      # what the datapath carries out


def default_services(description: ClusterDescription) -> Tuple[VirtualService, ...]:
    """The cluster's one service when none is given: TCP on the VIP's HTTP port, Maglev, every
    real server by the cluster's forwarding method at weight 1."""
    return (VirtualService(ServiceKey("tcp", description.vip, description.http_port), scheduler="mh",
                           real_servers=tuple(sorted(RealServerEntry(h.ip, description.http_port, description.mode)
                                                     for h in description.real_servers))),)


def check_service(description: ClusterDescription, service: VirtualService) -> None:
    """IpvsadmError unless the cluster can serve `service` as it is defined."""
    try:
        check_vip_of(description, service.key.vip)
    except ValueError as e:
        raise IpvsadmError("%s: %s" % (service.key, e)) from None
    if service.scheduler not in SCHEDULERS:
        default = " (ipvsadm's default when -s is not given)" if service.scheduler == DEFAULT_SCHEDULER else ""
        raise IpvsadmError("%s: scheduler %s%s is not carried out here; use -s %s" % (
            service.key, service.scheduler, default, " or ".join("%s (%s)" % kv for kv in SCHEDULERS.items())))
    if service.persistence is not None:
        raise IpvsadmError("%s: persistence (-p) is not carried out here yet" % service.key)
    for entry in service.real_servers:
        _check_real_server(description, service.key, entry)


def _check_real_server(description: ClusterDescription, key: ServiceKey, entry: RealServerEntry) -> None:
    host = _web_host(description, entry.address)
    if host is None:
        raise IpvsadmError("%s: %s is not a web host of the cluster; web hosts: %s" % (
            key, entry.address, ", ".join("%s %s" % (h.name, h.ip) for h in description.real_servers)))
    remote = host.service_interface.switch == description.remote_edge
    if remote and entry.method != "tun":
        raise IpvsadmError("%s: %s (%s) is one L3 hop away behind r0: only TUN (-i) reaches it, not %s" % (
            key, host.name, entry.address, entry.method.upper()))


def _web_host(description: ClusterDescription, address: str) -> Optional[Host]:
    return next((h for h in description.real_servers if h.ip == address), None)


def load_rules(text: str, source: str, description: ClusterDescription) -> Tuple[VirtualService, ...]:
    """The services a rules file defines for this cluster; IpvsadmError naming the file and the
    first line that cannot work (as ipvsadm -R stops at the first bad line)."""
    table = ServiceTable()
    for number, line in rule_lines(text):
        try:
            command = parse_command(line)
            table.apply(command)
            if command.key in table.services:
                check_service(description, table.services[command.key])
        except IpvsadmError as e:
            raise IpvsadmError("%s line %d: %s" % (source, number, e)) from None
    return tuple(table.services[key] for key in sorted(table.services))
