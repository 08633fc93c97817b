"""Who may steer the cluster through the REST API: the decision, as pure logic (rest.py asks it
about every request before any handler runs; unit tests drive it with plain values).

- Every request must name the loopback address in its Host header: a page whose DNS name was
  rebound to 127.0.0.1 gets nothing, not even a read.
- Reads (GET, HEAD) are open to every process on the machine.
- A change (any other method) needs the run's token in `Authorization: Bearer ...`, never on
  the URL (servers and proxies log URLs); no page of another origin can send that header
  without a CORS preflight, and preflights (OPTIONS) are refused. A change that also carries a
  foreign Origin is refused, and so is a body that is not `application/json` (415): a browser
  sends text/plain cross-origin without asking.
- Refusals are counted and logged; past a rate, they are counted but not logged one by one, and
  wrong tokens get 429 at once: guessing costs the controller no more than answering.
"""
import collections
import hmac
from typing import Any, Callable, Dict, Iterable, Mapping, NamedTuple, Optional, Tuple

from core.apitoken import AUTHORIZATION, BEARER, DOOR_HEADER, DOORS, REST

READS = frozenset(("GET", "HEAD"))
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
TOKEN_PARAMETERS = frozenset(("token", "access_token", "api_token"))
JSON = "application/json"
REFUSALS_PER_SECOND, REFUSAL_BURST = 20, 100


class Refusal(NamedTuple):
    """A request refused: the HTTP status, the reason's short name, what to tell the caller, and
    whether it was logged one by one (or only counted, past the rate)."""
    status: int
    reason: str
    message: str
    logged: bool


class TokenBucket:
    """`rate` per second, up to `burst` at once."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.last = float(burst), clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class ApiGate:
    def __init__(self, token: str, port: int, clock: Callable[[], float], rate: float = REFUSALS_PER_SECOND,
                 burst: float = REFUSAL_BURST) -> None:
        self._token = token.encode()
        self.port = port
        self.hosts = {"%s:%d" % (name, port) for name in LOOPBACK_NAMES}
        if port == 80:
            self.hosts.update(LOOPBACK_NAMES)
        self.origins = {"http://" + host for host in self.hosts}
        self._log_budget = TokenBucket(rate, burst, clock)
        self.refused: collections.Counter = collections.Counter()     # reason -> requests refused for it
        self.unlogged = 0                        # refusals past the rate, not logged one by one

    def check(self, method: str, headers: Mapping[str, str], query: Iterable[str], has_body: bool) -> Optional[Refusal]:
        """None when the request may go on; else a Refusal. `headers` is a case-insensitive
        mapping (webob's), `query` the names of the URL's query parameters."""
        refusal = self._judge(method.upper(), headers, query, has_body)
        if refusal is None:
            return None
        status, reason, message = refusal
        logged = self._log_budget.take()
        if not logged:
            self.unlogged += 1
            if status == 401:
                status, message = 429, "too many refused requests; wait and send the right token"
        self.refused[reason] += 1
        return Refusal(status, reason, message, logged)

    def door(self, headers: Mapping[str, str]) -> str:
        return headers.get(DOOR_HEADER) or REST

    def _judge(self, method: str, headers: Mapping[str, str], query: Iterable[str],
               has_body: bool) -> Optional[Tuple[int, str, str]]:
        host = headers.get("Host", "")
        if host.lower() not in self.hosts:
            return 403, "foreign-host", ("the Host header %r does not name this controller: use http://127.0.0.1:%d"
                                         % (host, self.port))
        if method == "OPTIONS":
            return 403, "preflight", "cross-origin requests are refused: the API serves its own page and local tools"
        if method in READS:
            return None
        if TOKEN_PARAMETERS & set(query):
            return 401, "token-in-url", ("a token on the URL is refused (URLs get logged): send it in the header "
                                         "'%s: %sTOKEN'" % (AUTHORIZATION, BEARER))
        authorization = headers.get(AUTHORIZATION, "")
        if not authorization.startswith(BEARER):
            return 401, "no-token", ("a change needs the run's API token in the header '%s: %sTOKEN' (the token is "
                                     "in the run directory's api-token file)" % (AUTHORIZATION, BEARER))
        if not hmac.compare_digest(authorization[len(BEARER):].strip().encode(), self._token):
            return 401, "wrong-token", "the API token is not this run's: nothing was changed"
        origin = headers.get("Origin")
        if origin is not None and origin.lower() not in self.origins:
            return 403, "foreign-origin", "a change from a page of %s is refused" % origin
        if self.door(headers) not in DOORS:
            return 400, "unknown-door", ("unknown %s %r: one of %s"
                                         % (DOOR_HEADER, self.door(headers), ", ".join(DOORS)))
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if has_body and content_type != JSON:
            return 415, "not-json", ("the request body must be sent as %s, not %s"
                                     % (JSON, content_type or "no Content-Type"))
        return None

    def status(self) -> Dict[str, Any]:
        return {"refused": dict(self.refused), "refused_unlogged": self.unlogged}
