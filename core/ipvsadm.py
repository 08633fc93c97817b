"""ipvsadm's own grammar: the commands of an `ipvsadm-save` rules file (Debian keeps one in
/etc/ipvsadm.rules) and of the CLI's `lb`, parsed into what they ask for; and a table of virtual
services that applies them as LVS does and saves itself as `ipvsadm -S -n` prints, so that saved
rules read back give the same table.

Pure, and blind to the cluster: whether a VIP, a port or a real server fits the cluster is the
caller's to check. Refusals are IpvsadmError, one line naming the option, the value and what is
allowed.
"""
import ipaddress
import shlex
from dataclasses import dataclass, replace
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from core.addressing import DNS_PORT
from core.rules import ConfigError

PROTOCOLS = {"tcp": "-t", "udp": "-u"}               # ipvsadm's --tcp-service, --udp-service
METHODS = {"nat": "-m", "tun": "-i", "dr": "-g"}     # --masquerading, --ipip, --gatewaying
# Every scheduler LVS has (which of them a cluster carries out is the cluster's to say).
LVS_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos")
DEFAULT_SCHEDULER = "wlc"          # ipvsadm's, when -s is not given
DEFAULT_METHOD = "dr"              # ipvsadm's, when none of -g, -i, -m is given
DEFAULT_WEIGHT = 1
MAX_WEIGHT = 65535
DEFAULT_PERSISTENCE = 300          # seconds, -p without a value
HOST_MASK = "255.255.255.255"

# Each command: its short and long option, and whether it names a service, a real server.
COMMANDS = {"-A": ("--add-service", True, False), "-E": ("--edit-service", True, False),
            "-D": ("--delete-service", True, False), "-C": ("--clear", False, False),
            "-a": ("--add-server", True, True), "-e": ("--edit-server", True, True),
            "-d": ("--delete-server", True, True), "-S": ("--save", False, False),
            "-L": ("--list", False, False)}
LONG = {long: short for short, (long, _, _) in COMMANDS.items()}
LONG.update({"--tcp-service": "-t", "--udp-service": "-u", "--scheduler": "-s", "--persistent": "-p",
             "--netmask": "-M", "--real-server": "-r", "--masquerading": "-m", "--ipip": "-i",
             "--gatewaying": "-g", "--weight": "-w", "--numeric": "-n", "-l": "-L"})
VALUED = ("-t", "-u", "-s", "-M", "-r", "-w")
SERVICE_OPTIONS = ("-s", "-p", "-M")
SERVER_OPTIONS = ("-r", "-m", "-i", "-g", "-w")
LIST_FLAGS = ("-n", "--stats", "--rate", "--persistent-conn")
# What ipvsadm takes but this project cannot do: refused by name.
UNSUPPORTED = {"-f": "firewall-mark services", "--fwmark-service": "firewall-mark services",
               "--sctp-service": "SCTP services", "-x": "connection thresholds", "-y": "connection thresholds",
               "--u-threshold": "connection thresholds", "--l-threshold": "connection thresholds",
               "-b": "scheduler flags", "--sched-flags": "scheduler flags", "--pe": "persistence engines",
               "-o": "one-packet scheduling", "--ops": "one-packet scheduling", "-R": "restoring from stdin "
               "(give the rules file to run.py --services)", "-Z": "zeroing counters",
               "--tun-type": "tunnel types (TUN here is VXLAN)", "-6": "IPv6"}


class IpvsadmError(ConfigError):
    """An ipvsadm command that cannot be taken: the message says what was wrong."""


class NoSuchEntry(IpvsadmError):
    """A command named a virtual service or a real server that the table does not have."""


@dataclass(frozen=True, order=True)
class ServiceKey:
    """A virtual service: (protocol, VIP, port)."""
    protocol: str
    vip: str
    port: int

    def __str__(self) -> str:
        return "%s %s:%d" % (PROTOCOLS[self.protocol], self.vip, self.port)

    @property
    def is_dns(self) -> bool:
        """Served by a DNS server (and checked by DNS_CHECK): UDP on DNS's port."""
        return (self.protocol, self.port) == ("udp", DNS_PORT)


@dataclass(frozen=True, order=True)
class RealServerEntry:
    """One real server of a virtual service, as ipvsadm's -r, -g|-i|-m and -w give it."""
    address: str
    port: int
    method: str = DEFAULT_METHOD
    weight: int = DEFAULT_WEIGHT

    @property
    def endpoint(self) -> Tuple[str, int]:
        return (self.address, self.port)


@dataclass(frozen=True)
class VirtualService:
    key: ServiceKey
    scheduler: str = DEFAULT_SCHEDULER
    persistence: Optional[int] = None     # seconds, -p; None: not persistent
    netmask: str = HOST_MASK               # -M: the clients that persistence groups
    real_servers: Tuple[RealServerEntry, ...] = ()
    # keepalived's sorry_server: used only while no real server is up. ipvsadm has no word for
    # it: -S leaves it out, and -E keeps it.
    sorry_server: Optional[RealServerEntry] = None
    # keepalived's inhibit_on_failure: the real servers (by address) that, when their check fails,
    # are made quiescent rather than taken out, so that their connections and persistent clients
    # stay. No ipvsadm word either.
    inhibit_on_failure: Tuple[str, ...] = ()

    def real_server(self, endpoint: Tuple[str, int]) -> Optional[RealServerEntry]:
        return next((r for r in self.real_servers if r.endpoint == endpoint), None)

    @property
    def entries(self) -> Tuple[RealServerEntry, ...]:
        """Its real servers, and its sorry server if it has one (each needs setting up)."""
        return self.real_servers + ((self.sorry_server,) if self.sorry_server else ())


@dataclass(frozen=True)
class Command:
    """One ipvsadm command: `op` is its short option (-A, -a, -L...); the rest as given (None:
    not given)."""
    op: str
    key: Optional[ServiceKey] = None
    scheduler: Optional[str] = None
    persistence: Optional[int] = None
    netmask: Optional[str] = None
    server: Optional[Tuple[str, Optional[int]]] = None
    method: Optional[str] = None
    weight: Optional[int] = None
    flags: Tuple[str, ...] = ()             # -L's -n, --stats, --rate, --persistent-conn


def parse_command(line: str) -> Command:
    """The command in one line of ipvsadm's arguments (without the program's name)."""
    try:
        words = shlex.split(line, comments=True)
    except ValueError as e:
        raise IpvsadmError("cannot split the line into words: %s" % e) from None
    options = _options(words)
    ops = [o for o in options if o in COMMANDS]
    if len(ops) != 1:
        raise IpvsadmError("one command is needed (%s), got %s" % (
            ", ".join(COMMANDS), ", ".join(ops) if ops else "none"))
    op = ops[0]
    _names_what_it_must(op, options)
    return Command(op, key=_service(options), scheduler=options.get("-s"), persistence=_persistence(options),
                   netmask=_netmask(options), server=_server(options), method=_method(options),
                   weight=_weight(options), flags=tuple(f for f in LIST_FLAGS if f in options))


def _options(words: List[str]) -> Dict[str, Optional[str]]:
    """{short option: its value, or None for a flag}; -p takes an optional number."""
    options: Dict[str, Optional[str]] = {}
    words = [bundled for word in words for bundled in _unbundled(word)]
    while words:
        word = words.pop(0)
        option, _, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        option = LONG.get(option, option)
        if option in UNSUPPORTED:
            raise IpvsadmError("%s: %s are not supported here" % (word, UNSUPPORTED[option]))
        if option not in COMMANDS and option not in VALUED and option not in ("-p", "-m", "-i", "-g") \
                and option not in LIST_FLAGS:
            raise IpvsadmError("unknown option or stray word %r" % word)
        if option in options:
            raise IpvsadmError("%s is given twice" % option)
        value: Optional[str] = attached or None
        if value is None and (option in VALUED or (option == "-p" and words and words[0].isdigit())):
            if not words:
                raise IpvsadmError("%s needs a value" % option)
            value = words.pop(0)
        options[option] = value
    return options


def _unbundled(word: str) -> List[str]:
    """-Ln is -L -n, as ipvsadm reads short flags given together."""
    if len(word) > 2 and word[0] == "-" and word[1:].isalpha():
        return ["-" + letter for letter in word[1:]]
    return [word]


def _names_what_it_must(op: str, options: Dict[str, Optional[str]]) -> None:
    _, needs_service, needs_server = COMMANDS[op]
    services = [o for o in ("-t", "-u") if o in options]
    if needs_service and len(services) != 1:
        raise IpvsadmError("%s needs one virtual service: -t VIP:PORT (TCP) or -u VIP:PORT (UDP)" % op)
    if not needs_service and services and op != "-L":
        raise IpvsadmError("%s takes no virtual service" % op)
    if needs_server and "-r" not in options:
        raise IpvsadmError("%s needs a real server: -r ADDRESS[:PORT]" % op)
    allowed = (SERVICE_OPTIONS if op in ("-A", "-E") else SERVER_OPTIONS if op in ("-a", "-e")
               else ("-r",) if op == "-d" else LIST_FLAGS if op == "-L" else ("-n",) if op == "-S" else ())
    stray = [o for o in options if o not in COMMANDS and o not in ("-t", "-u") and o not in allowed]
    if stray:
        raise IpvsadmError("%s does not take %s" % (op, ", ".join(stray)))
    if op in ("-a", "-e") and sum(o in options for o in ("-m", "-i", "-g")) > 1:
        raise IpvsadmError("one forwarding method per real server: -m (NAT), -i (TUN) or -g (DR)")


def _address(text: str, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise IpvsadmError("%s must be an IPv4 address, got %r" % (what, text)) from None


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise IpvsadmError("%s must be from 1 to 65535, got %r" % (what, text))
    return int(text)


def _service(options: Dict[str, Optional[str]]) -> Optional[ServiceKey]:
    for protocol, option in PROTOCOLS.items():
        if option in options:
            text = options[option] or ""
            address, colon, port = text.rpartition(":")
            if not colon:
                raise IpvsadmError("%s needs VIP:PORT, got %r" % (option, text))
            return ServiceKey(protocol, _address(address, "the VIP"), _port(port, "the service's port"))
    return None


def _server(options: Dict[str, Optional[str]]) -> Optional[Tuple[str, Optional[int]]]:
    text = options.get("-r")
    if text is None:
        return None
    address, colon, port = text.rpartition(":")
    if not colon:
        return _address(text, "-r's real server"), None
    return _address(address, "-r's real server"), _port(port, "-r's port")


def _method(options: Dict[str, Optional[str]]) -> Optional[str]:
    return next((method for method, option in METHODS.items() if option in options), None)


def _weight(options: Dict[str, Optional[str]]) -> Optional[int]:
    text = options.get("-w")
    if text is None:
        return None
    if not text.isdigit() or int(text) > MAX_WEIGHT:
        raise IpvsadmError("-w must be a weight from 0 to %d, got %r" % (MAX_WEIGHT, text))
    return int(text)


def _persistence(options: Dict[str, Optional[str]]) -> Optional[int]:
    if "-p" not in options:
        return None
    text = options["-p"]
    if text is None:
        return DEFAULT_PERSISTENCE
    if not text.isdigit() or not 1 <= int(text) <= 31 * 24 * 3600:
        raise IpvsadmError("-p must be a timeout from 1 to %d seconds, got %r" % (31 * 24 * 3600, text))
    return int(text)


def _netmask(options: Dict[str, Optional[str]]) -> Optional[str]:
    text = options.get("-M")
    return None if text is None else netmask_of(text)


def netmask_of(text: object) -> str:
    """A netmask (255.255.255.0, or a prefix length: 24) as a dotted netmask; IpvsadmError if it
    is none (its ones not all to the left of its zeros, say)."""
    try:
        if not isinstance(text, str):
            raise ValueError(text)
        return str(ipaddress.IPv4Network("0.0.0.0/%s" % text).netmask)
    except ValueError:
        raise IpvsadmError("-M must be a netmask such as 255.255.255.0, got %r" % text) from None


def rule_lines(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, command) of each line of a rules file that holds one: blank lines and
    # comments skipped, a leading `ipvsadm` taken off."""
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split(None, 1)
        if words and words[0] == "ipvsadm":
            line = words[1] if len(words) > 1 else ""
        if line.split("#", 1)[0].strip():
            yield number, line


def parse_rules(text: str, source: str) -> List[Command]:
    """The commands of a rules file; IpvsadmError naming the file and the line."""
    commands = []
    for number, line in rule_lines(text):
        try:
            commands.append(parse_command(line))
        except IpvsadmError as e:
            raise IpvsadmError("%s line %d: %s" % (source, number, e)) from None
    return commands


class ServiceTable:
    """The virtual services and their real servers, changed command by command as LVS changes
    its table: a command that LVS would refuse changes nothing and raises IpvsadmError. As with
    ipvsadm, -E and -e set every option: one not given takes its default (-s wlc, not
    persistent; -g, -w 1), not its value before."""

    def __init__(self, services: Iterable[VirtualService] = ()) -> None:
        self.services: Dict[ServiceKey, VirtualService] = {s.key: s for s in services}

    def apply(self, command: Command) -> str:
        """Carry out a change (-A -E -D -C -a -e -d); what it did, in words."""
        key, op = command.key, command.op
        if op == "-C":
            self.services = {}
            return "every virtual service removed"
        assert key is not None, "parse_command makes every other change name a service"
        if op == "-A":
            if key in self.services:
                raise IpvsadmError("the virtual service %s exists already (-E changes it)" % key)
            self.services[key] = self._scheduled(VirtualService(key), command)
            return "virtual service %s added" % key
        service = self.service(key)
        if op == "-E":
            self.services[key] = self._scheduled(service, command)
            return "virtual service %s changed" % key
        if op == "-D":
            del self.services[key]
            return "virtual service %s removed" % key
        return self._apply_to_server(service, command)

    @staticmethod
    def _scheduled(service: VirtualService, command: Command) -> VirtualService:
        scheduler = command.scheduler or DEFAULT_SCHEDULER
        if scheduler not in LVS_SCHEDULERS:
            raise IpvsadmError("-s %s: no such scheduler; LVS has %s" % (scheduler, ", ".join(LVS_SCHEDULERS)))
        if command.netmask is not None and command.persistence is None:
            raise IpvsadmError("-M needs -p: a netmask groups the clients of a persistent service")
        return replace(service, scheduler=scheduler, persistence=command.persistence,
                       netmask=command.netmask or HOST_MASK)

    def service(self, key: ServiceKey) -> VirtualService:
        if key not in self.services:
            raise NoSuchEntry("no virtual service %s; services: %s" % (
                key, ", ".join(map(str, sorted(self.services))) or "none"))
        return self.services[key]

    def _apply_to_server(self, service: VirtualService, command: Command) -> str:
        assert command.server is not None, "parse_command makes -a, -e and -d name a real server"
        address, port = command.server
        endpoint = (address, service.key.port if port is None else port)
        present = service.real_server(endpoint)
        name = "%s:%d" % endpoint
        if command.op == "-a" and present is not None:
            raise IpvsadmError("%s is a real server of %s already (-e changes it)" % (name, service.key))
        if command.op != "-a" and present is None:
            raise NoSuchEntry("%s is not a real server of %s" % (name, service.key))
        others = tuple(r for r in service.real_servers if r.endpoint != endpoint)
        if command.op == "-d":
            self.services[service.key] = replace(service, real_servers=others)
            return "%s left %s" % (name, service.key)
        entry = RealServerEntry(*endpoint, method=command.method or DEFAULT_METHOD,
                                weight=DEFAULT_WEIGHT if command.weight is None else command.weight)
        if entry.method != "nat" and entry.port != service.key.port:
            raise IpvsadmError("%s: only NAT (-m) may give a real server another port than the service's "
                               "(%d): DR and TUN do not rewrite it" % (name, service.key.port))
        self.services[service.key] = replace(service, real_servers=tuple(sorted(others + (entry,))))
        return "%s %s %s (%s, weight %d)" % (name, "joined" if command.op == "-a" else "changed in",
                                             service.key, entry.method.upper(), entry.weight)

    def save(self) -> str:
        """The table as `ipvsadm -S -n` prints it."""
        lines = []
        for key in sorted(self.services):
            service = self.services[key]
            persistence = "" if service.persistence is None else " -p %d%s" % (
                service.persistence, "" if service.netmask == HOST_MASK else " -M %s" % service.netmask)
            lines.append("-A %s -s %s%s" % (key, service.scheduler, persistence))
            lines += ["-a %s -r %s:%d %s -w %d" % (key, r.address, r.port, METHODS[r.method], r.weight)
                      for r in service.real_servers]
        return "".join(line + "\n" for line in lines)
