"""keepalived.conf read as the cluster it describes: its virtual servers as this project's
virtual services, the VIPs and the real servers' network from their addresses, and the checkers'
timers as the health checks' settings.

keepalived's grammar is a keyword, its words, and maybe a block in braces; `!` and `#` start a
comment anywhere. No parser of it is both well kept and able to name a line (the Python ones on
PyPI are one-author projects that keep no line numbers), so this is a small one. Every keyword
is known: used, listed once as ignored (where ignoring it changes nothing a client sees), or
refused in one line naming the file, the line and the keyword (where this project cannot do what
keepalived would). Pure: core/builder.py's describe_keepalived builds the cluster from it.
"""
import ipaddress
import math
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from core.ipvsadm import HOST_MASK, IpvsadmError, RealServerEntry, ServiceKey, VirtualService, netmask_of
from core.rules import ConfigError
from core.settings import HealthSettings

# keepalived's defaults (keepalived.conf(5)): a checker's timers (HTTP_GET waits 3 s before a
# retry, the others 1 s) and persistence_timeout without a value.
DELAY_LOOP, CONNECT_TIMEOUT, RETRY, DELAY_BEFORE_RETRY, HTTP_DELAY_BEFORE_RETRY = 60.0, 5.0, 1, 1.0, 3.0
DEFAULT_PERSISTENCE = 360
METHODS = {"NAT": "nat", "DR": "dr", "TUN": "tun"}
PROTOCOLS = {"TCP": "tcp", "UDP": "udp"}
CHECKERS = ("HTTP_GET", "TCP_CHECK", "DNS_CHECK", "UDP_CHECK")

# Ignored: what it is, which is why ignoring it changes nothing a client sees here.
IGNORED = {
    "global_defs": "the director's own settings (e-mail, router id, scripts' user)",
    "vrrp_sync_group": "every VIP moves with the active proxy here",
    "state": "the proxies elect the active one themselves", "priority": "the proxies elect the active one themselves",
    "interface": "the proxies' own ports carry the VIPs", "virtual_router_id": "the proxies' VRRP ids are their own",
    "advert_int": "the proxies watch each other by BFD", "authentication": "the proxies watch each other by BFD",
    "nopreempt": "a recovered proxy waits for preempt_delay here", "preempt_delay": "the controller's own setting",
    "lvs_sync_daemon_interface": "connection sync runs over OpenFlow here",
    "garp_master_delay": "the edges move the VIP in the data plane", "version": "the proxies' VRRP is their own",
    "use_vmac": "the VIPs' MAC is VRRP's virtual MAC here already", "track_interface": "the proxies watch their ports",
    "dont_track_primary": "the proxies watch their ports", "smtp_alert": "no e-mail is sent",
    "unicast_src_ip": "the proxies' VRRP is their own", "unicast_peer": "the proxies' VRRP is their own",
    "virtualhost": "the web app answers whatever Host a check names", "alpha": "real servers start as checked here",
    "omega": "no quorum scripts run", "quorum": "no quorum scripts run", "hysteresis": "no quorum scripts run",
    "ha_suspend": "the checks run on the active controller", "nat_mask": "the LAN's prefix is its own",
    "warmup": "checks start at once", "bindto": "checks leave by the controller's interface on the LAN",
    "bind_port": "checks leave by the controller's interface on the LAN",
    "require_reply": "a UDP check wants the echo's reply", "payload": "a UDP check sends its own datagram",
    "type": "a DNS check asks whoami.lvsdn. type A", "name": "a DNS check asks whoami.lvsdn. type A",
    "sorry_server_inhibit": "a sorry server is used only while no real server is up",
    "snmp_name": "no SNMP here", "log_all_failures": "every check's change is logged",
    "ip_family": "the cluster is IPv4", "http_protocol": "checks speak HTTP/1.1",
}
# Refused: what it asks for, which this project cannot do.
REFUSED = {
    "SSL_GET": "HTTPS checks (the real servers serve plain HTTP here)", "MISC_CHECK": "check scripts",
    "SMTP_CHECK": "SMTP checks", "PING_CHECK": "ICMP checks", "FILE_CHECK": "file checks", "BFD_CHECK": "BFD checks",
    "digest": "a digest check of a page", "regex": "a regex check of a page", "vrrp_script": "check scripts",
    "track_script": "check scripts", "track_file": "check files", "notify": "notify scripts",
    "notify_master": "notify scripts", "notify_backup": "notify scripts", "notify_fault": "notify scripts",
    "notify_stop": "notify scripts", "notify_up": "notify scripts", "notify_down": "notify scripts",
    "quorum_up": "quorum scripts", "quorum_down": "quorum scripts", "virtual_server_group": "virtual server groups",
    "include": "included files", "ops": "one-packet scheduling", "uthreshold": "connection thresholds",
    "lthreshold": "connection thresholds", "static_ipaddress": "the director's own addresses",
    "static_routes": "the director's own routes", "static_rules": "the director's own routing rules",
    "virtual_routes": "routes that move with the VIP", "virtual_rules": "routing rules that move with the VIP",
    "connect_ip": "a check of another address than the real server's", "net_namespace": "network namespaces",
    "sh-port": "scheduler flags", "sh-fallback": "scheduler flags", "mh-port": "scheduler flags",
    "mh-fallback": "scheduler flags", "hashed": "scheduler flags", "fwmark": "firewall-mark services",
    "persistence_engine": "persistence engines", "sorry_server_lvs_method": "a sorry server's own method",
}


class KeepalivedError(ConfigError):
    """A keepalived.conf this project cannot build: the message names the file, the line and
    the keyword."""


@dataclass(frozen=True)
class Statement:
    keyword: str
    words: Tuple[str, ...]
    line: int
    block: Optional[Tuple["Statement", ...]] = None   # None: no braces


@dataclass(frozen=True)
class Timers:
    """A checker's timers, in keepalived's terms."""
    delay_loop: float = DELAY_LOOP
    connect_timeout: float = CONNECT_TIMEOUT
    retry: int = RETRY
    delay_before_retry: float = DELAY_BEFORE_RETRY


@dataclass(frozen=True)
class Checker:
    """A real server's check: keepalived's checker, the url path and status codes of HTTP_GET."""
    kind: str
    timers: Timers
    path: str = "/"
    status_codes: Tuple[Tuple[int, int], ...] = ((200, 299),)


@dataclass(frozen=True)
class KeepalivedCluster:
    """What a keepalived.conf describes: its virtual servers and the addresses around them."""
    source: str
    services: Tuple[VirtualService, ...]
    vrrp_addresses: Tuple[str, ...]                      # every vrrp_instance's virtual_ipaddress
    checkers: Dict[Tuple[ServiceKey, str], Checker]      # (service, real server address): its checker
    ignored: Tuple[Tuple[str, int], ...]                 # (keyword, first line), each once
    lines: Dict[ServiceKey, int] = field(default_factory=dict)   # each virtual_server's line

    @property
    def vips(self) -> List[str]:
        """The VIPs: the virtual servers' first (in the file's order), then VRRP's others."""
        return list(dict.fromkeys([s.key.vip for s in self.services] + list(self.vrrp_addresses)))

    @property
    def real_server_addresses(self) -> List[str]:
        return list(dict.fromkeys(e.address for s in self.services for e in s.entries))


def parse(text: str, source: str) -> Tuple[Statement, ...]:
    """The statements of a keepalived.conf; KeepalivedError at an unbalanced brace or a
    conditional line (keepalived's `@name`, which needs its -i)."""
    tokens = list(_tokens(text, source))
    return _statements(tokens, 0, source, None)[0]


def _tokens(text: str, source: str) -> Iterator[Tuple[str, int]]:
    """(word, line) of every word and brace; "\n" ends each line's statement."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("@") or stripped.startswith("$"):
            raise KeepalivedError("%s line %d: %s: conditional lines and definitions (keepalived's -i and "
                                  "$NAME) are not read here; write the configuration out"
                                  % (source, number, stripped.split()[0]))
        for word in re.findall(r'"[^"]*"|[{}]|[^\s{}"]+', line):
            if word[0] in "!#":
                break
            yield (word.strip('"') if word.startswith('"') else word), number
        yield "\n", number


def _statements(tokens: List[Tuple[str, int]], at: int, source: str,
                opened: Optional[int]) -> Tuple[Tuple[Statement, ...], int]:
    """The statements from `at` to the brace that closes the block opened at line `opened`
    (the end of the file at the top): (statements, the index after the brace)."""
    found: List[Statement] = []
    while at < len(tokens):
        word, line = tokens[at]
        if word == "\n":
            at += 1
        elif word == "}":
            if opened is None:
                raise KeepalivedError("%s line %d: } closes no block" % (source, line))
            return tuple(found), at + 1
        elif word == "{":
            raise KeepalivedError("%s line %d: { opens a block with no keyword before it" % (source, line))
        else:
            words: List[str] = []
            at += 1
            while at < len(tokens) and tokens[at][0] not in ("\n", "{", "}"):
                words.append(tokens[at][0])
                at += 1
            block = None
            if at < len(tokens) and tokens[at][0] == "{":
                block, at = _statements(tokens, at + 1, source, line)
            found.append(Statement(word, tuple(words), line, block))
    if opened is not None:
        raise KeepalivedError("%s line %d: the block opened here is never closed (a } is missing)" % (source, opened))
    return tuple(found), at


@dataclass
class _ServiceDraft:
    scheduler: Optional[str] = None
    method: str = "nat"                 # keepalived's default forwarding method
    protocol: str = "tcp"
    persistence: Optional[int] = None
    netmask: str = HOST_MASK
    sorry: Optional[Tuple[str, Optional[int]]] = None
    timers: Timers = Timers()
    servers: List[Statement] = field(default_factory=list)
    inhibited: List[str] = field(default_factory=list)     # real servers' addresses


@dataclass
class _ServerDraft:
    method: str
    timers: Timers
    weight: int = 1
    inhibit: bool = False
    checker: Optional[Statement] = None


@dataclass
class _CheckDraft:
    timers: Timers
    path: str = "/"
    status_codes: Tuple[Tuple[int, int], ...] = ((200, 299),)   # keepalived's default


class _Reader:
    """Reads the statements of one file into a KeepalivedCluster."""

    def __init__(self, source: str):
        self.source = source
        self.ignored: Dict[str, int] = {}
        self.services: List[VirtualService] = []
        self.lines: Dict[ServiceKey, int] = {}
        self.vrrp: List[str] = []
        self.checkers: Dict[Tuple[ServiceKey, str], Checker] = {}

    def fail(self, statement: Statement, what: str) -> KeepalivedError:
        return KeepalivedError("%s line %d: %s: %s" % (self.source, statement.line, statement.keyword, what))

    def each(self, statements: Tuple[Statement, ...], known: Dict[str, Callable[[Statement], None]],
             where: str) -> None:
        """Hand each statement to its keyword's reader; ignored ones noted, refused and unknown
        ones refused."""
        for statement in statements:
            keyword = statement.keyword
            if keyword in known:
                known[keyword](statement)
            elif keyword in REFUSED:
                raise self.fail(statement, "%s cannot be done here" % REFUSED[keyword])
            elif keyword in IGNORED:
                self.ignored.setdefault(keyword, statement.line)
            else:
                raise self.fail(statement, "unknown keyword in %s; known here: %s" % (where, ", ".join(sorted(known))))

    def words(self, statement: Statement, count: int) -> Tuple[str, ...]:
        if len(statement.words) != count:
            raise self.fail(statement, "takes %d word%s, got %d" % (
                count, "" if count == 1 else "s", len(statement.words)))
        return statement.words

    def word(self, statement: Statement) -> str:
        return self.words(statement, 1)[0]

    def number(self, statement: Statement, low: float, high: float) -> float:
        text = self.word(statement)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:
            raise self.fail(statement, "must be a number from %g to %g, got %s" % (low, high, text))
        return value

    def integer(self, statement: Statement, low: int, high: int) -> int:
        text = self.word(statement)
        if not text.isdigit() or not low <= int(text) <= high:
            raise self.fail(statement, "must be an integer from %d to %d, got %s" % (low, high, text))
        return int(text)

    def block(self, statement: Statement) -> Tuple[Statement, ...]:
        if statement.block is None:
            raise self.fail(statement, "needs a block in braces")
        return statement.block

    def read(self, statements: Tuple[Statement, ...]) -> KeepalivedCluster:
        self.each(statements, {"vrrp_instance": self.vrrp_instance, "virtual_server": self.virtual_server},
                  "the top level")
        if not self.services:
            raise KeepalivedError("%s: no virtual_server: there is nothing for the cluster to balance" % self.source)
        return KeepalivedCluster(self.source, tuple(self.services), tuple(dict.fromkeys(self.vrrp)), self.checkers,
                                 tuple(sorted(self.ignored.items(), key=lambda kv: kv[1])), self.lines)

    def vrrp_instance(self, statement: Statement) -> None:
        self.each(self.block(statement), {"virtual_ipaddress": self.virtual_ipaddress,
                                          "virtual_ipaddress_excluded": self.virtual_ipaddress}, "vrrp_instance")

    def virtual_ipaddress(self, statement: Statement) -> None:
        for entry in self.block(statement):
            self.vrrp.append(self.address(entry, entry.keyword.split("/")[0]))

    def address(self, statement: Statement, text: str) -> str:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise self.fail(statement, "%s is not an IP address" % text) from None
        if address.version != 4:
            raise self.fail(statement, "%s is an IPv6 address; the cluster is IPv4" % text)
        return text

    def port(self, statement: Statement, text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise self.fail(statement, "port %s is not a number from 1 to 65535" % text)
        return int(text)

    def endpoint(self, statement: Statement, port_needed: bool = True) -> Tuple[str, Optional[int]]:
        """ADDRESS PORT (the port may be left out where keepalived lets it: a real server takes
        its virtual server's)."""
        if statement.words[:1] in (("fwmark",), ("group",)):
            raise self.fail(statement, "%s cannot be done here; give an address and a port" % REFUSED[
                "virtual_server_group" if statement.words[0] == "group" else "fwmark"])
        if len(statement.words) not in ((2,) if port_needed else (1, 2)):
            raise self.fail(statement, "takes an address and a port, got %r" % " ".join(statement.words))
        address = self.address(statement, statement.words[0])
        return address, self.port(statement, statement.words[1]) if len(statement.words) == 2 else None

    def timer_readers(self, draft: Any) -> Dict[str, Callable[[Statement], None]]:
        """The timers a virtual_server, a real_server or a checker may set (keepalived takes them
        at each level, the inner over the outer), read into `draft.timers`."""
        def timer(name: str, integer: bool = False) -> Callable[[Statement], None]:
            def read(statement: Statement) -> None:
                value = self.integer(statement, 0, 99) if integer else self.number(statement, 0.01, 60)
                draft.timers = replace(draft.timers, **{name: value})
            return read
        return {"delay_loop": timer("delay_loop"), "connect_timeout": timer("connect_timeout"),
                "retry": timer("retry", True), "nb_get_retry": timer("retry", True),
                "delay_before_retry": timer("delay_before_retry")}

    def choice(self, statement: Statement, choices: Dict[str, str]) -> str:
        text = self.word(statement)
        if text.upper() not in choices:
            raise self.fail(statement, "%s is not one of %s" % (text, ", ".join(choices)))
        return choices[text.upper()]

    def netmask(self, statement: Statement) -> str:
        text = self.word(statement)
        try:
            return netmask_of(text)
        except IpvsadmError:
            raise self.fail(statement, "%s is not a netmask such as 255.255.255.0" % text) from None

    def virtual_server(self, statement: Statement) -> None:
        vip, port = self.endpoint(statement)
        assert port is not None
        draft = _ServiceDraft()

        def setter(name: str, read: Callable[[Statement], object]) -> Callable[[Statement], None]:
            return lambda s: setattr(draft, name, read(s))

        self.each(self.block(statement), dict(self.timer_readers(draft), **{
            "lb_algo": setter("scheduler", self.word), "lvs_sched": setter("scheduler", self.word),
            "lb_kind": setter("method", lambda s: self.choice(s, METHODS)),
            "lvs_method": setter("method", lambda s: self.choice(s, METHODS)),
            "protocol": setter("protocol", lambda s: self.choice(s, PROTOCOLS)),
            "persistence_timeout": setter("persistence", lambda s: (
                self.integer(s, 1, 31 * 24 * 3600) if s.words else DEFAULT_PERSISTENCE)),
            "persistence_granularity": setter("netmask", self.netmask),
            "sorry_server": setter("sorry", lambda s: self.endpoint(s, port_needed=False)),
            "real_server": draft.servers.append}), "virtual_server")
        if not draft.servers:
            raise self.fail(statement, "%s %d has no real_server: nothing would answer it" % (vip, port))
        if draft.scheduler is None:
            raise self.fail(statement, "%s %d has no lb_algo: name its scheduler" % (vip, port))
        key = ServiceKey(draft.protocol, vip, port)
        if key in self.lines:
            raise self.fail(statement, "%s is defined already at line %d" % (key, self.lines[key]))
        entries = tuple(sorted(self.real_server(s, key, draft) for s in draft.servers))
        sorry = None if draft.sorry is None else RealServerEntry(draft.sorry[0], draft.sorry[1] or port, draft.method)
        self.lines[key] = statement.line
        self.services.append(VirtualService(key, scheduler=draft.scheduler, persistence=draft.persistence,
                                            netmask=draft.netmask, real_servers=entries, sorry_server=sorry,
                                            inhibit_on_failure=tuple(sorted(draft.inhibited))))

    def real_server(self, statement: Statement, key: ServiceKey, service: _ServiceDraft) -> RealServerEntry:
        address, port = self.endpoint(statement, port_needed=False)
        draft = _ServerDraft(service.method, service.timers)

        def checker(check: Statement) -> None:
            if draft.checker is not None:
                raise self.fail(check, "a second checker for %s: one per real server here" % address)
            draft.checker = check

        self.each(self.block(statement), dict(self.timer_readers(draft), **{
            "weight": lambda s: setattr(draft, "weight", self.integer(s, 0, 65535)),
            "lvs_method": lambda s: setattr(draft, "method", self.choice(s, METHODS)),
            "inhibit_on_failure": lambda s: setattr(draft, "inhibit", True),
            **{kind: checker for kind in CHECKERS}}), "real_server")
        entry = RealServerEntry(address, port or key.port, draft.method, draft.weight)
        if draft.checker is not None:
            self.checkers[(key, address)] = self.checker(draft.checker, entry.port, draft.timers)
        if draft.inhibit:
            service.inhibited.append(address)
        return entry

    def checker(self, statement: Statement, port: int, timers: Timers) -> Checker:
        kind = statement.keyword
        if "delay_before_retry" not in {s.keyword for s in self.block(statement)} and kind in ("HTTP_GET", "DNS_CHECK"):
            timers = replace(timers, delay_before_retry=HTTP_DELAY_BEFORE_RETRY if kind == "HTTP_GET"
                             else timers.delay_loop)
        draft = _CheckDraft(timers)

        def connect_port(s: Statement) -> None:
            if self.port(s, self.word(s)) != port:
                raise self.fail(s, "checks go to the real server's own port %d here, not %s" % (port, s.words[0]))

        def url(s: Statement) -> None:
            self.each(self.block(s), {"path": lambda p: setattr(draft, "path", self.word(p)),
                                      "status_code": lambda c: setattr(draft, "status_codes", self.status_codes(c))},
                      "url")

        readers = dict(self.timer_readers(draft), connect_port=connect_port)
        if kind == "HTTP_GET":
            readers["url"] = url
        self.each(self.block(statement), readers, kind)
        return Checker(kind, draft.timers, draft.path, draft.status_codes)

    def status_codes(self, statement: Statement) -> Tuple[Tuple[int, int], ...]:
        ranges = []
        for word in statement.words:
            match = re.fullmatch(r"(\d{3})(?:-(\d{3}))?", word)
            if not match:
                raise self.fail(statement, "%s is not a status code (200) or a range of them (200-299)" % word)
            ranges.append((int(match.group(1)), int(match.group(2) or match.group(1))))
        if not ranges:
            raise self.fail(statement, "names no status code")
        return tuple(ranges)


def read_keepalived(text: str, source: str) -> KeepalivedCluster:
    """The cluster a keepalived.conf describes; KeepalivedError naming the file, the line and
    the keyword of the first thing that cannot be built."""
    return _Reader(source).read(parse(text, source))


def health_settings(config: KeepalivedCluster) -> HealthSettings:
    """The health checks' settings that act as the file's checkers do: a server fails after its
    first bad check and `retry` more (fall = retry + 1), one good check restores it (keepalived's
    rise), and checks run every delay_before_retry (retries' pace) or delay_loop if that is
    shorter. The checks here are cluster-wide: where the checkers' timers differ, the quickest
    of each is taken (more checks than keepalived makes, never fewer)."""
    timers = [c.timers for c in config.checkers.values()] or [Timers()]
    return HealthSettings(interval=min(min(t.delay_loop, t.delay_before_retry) for t in timers),
                          timeout=min(t.connect_timeout for t in timers), fall=min(t.retry for t in timers) + 1,
                          rise=1)


def notes(config: KeepalivedCluster, carried: List[str]) -> List[str]:
    """What the emulated copy does otherwise than keepalived would, one line each: the keywords
    ignored (each once, with its first line), the VRRP addresses the cluster does not carry
    (`carried`: its VIPs and NAT gateway), the HTTP_GET checkers that ask /health instead."""
    said = []
    if config.ignored:
        said.append("%s: ignored (nothing a client sees depends on them here): %s" % (
            config.source, ", ".join("%s (line %d)" % kv for kv in config.ignored)))
    unused = [a for a in config.vrrp_addresses if a not in carried]
    if unused:
        said.append("%s: VRRP addresses that no virtual_server is on, not carried: %s"
                    % (config.source, ", ".join(unused)))
    for (key, address), checker in sorted(config.checkers.items(), key=lambda kv: str(kv[0])):
        if checker.kind == "HTTP_GET" and checker.path != "/health":
            said.append("%s %s: HTTP_GET %s is made as this project's check of /health"
                        % (key, address, checker.path))
    return said


def load_keepalived(path: str) -> KeepalivedCluster:
    """The cluster the keepalived.conf at `path` describes (KeepalivedError if it cannot be read)."""
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise KeepalivedError("%s cannot be read: %s" % (path, getattr(e, "strerror", None) or e)) from None
    return read_keepalived(text, path)
