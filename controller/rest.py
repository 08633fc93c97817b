"""The controller's REST API (Ryu WSGI, JSON, bound to loopback by the launcher), and the
dashboard's page and files.

Every answer but the dashboard's files is JSON, errors included: {"error": "..."} with a 4xx (or,
for a bug, 5xx) status. Every request passes the gate first (controller/access.py: the Host
header, and the run's token for a change); each change is logged with the door it came through.
"""
import inspect
import json
import logging
import os
from typing import Any, Callable, Dict, Iterable, Optional

from routes import Mapper

from ryu.app.wsgi import ControllerBase, Response, route
from webob import Request

from controller import servicerequests as requests
from controller.trace import TraceUnavailable
from controller.state import DEFAULT_BAN_SECONDS, InvalidRequest, NotBlocked, UnknownNode, UnknownRealServer
from core.httpbody import HttpError, json_object
from core.ipvsadm import Command, IpvsadmError, NoSuchEntry, ServiceKey, parse_command

APP_KEY = "lvsdn_app"
DASHBOARD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard")
DASHBOARD_FILES = {"index.html": "text/html", "dashboard.js": "application/javascript", "dashboard.css": "text/css"}
LOG = logging.getLogger("lvsdn.rest")
SERVICE_PATH = "/lb/services/{protocol}/{vip}/{port}"
SERVER_PATH = SERVICE_PATH + "/real_servers/{address}/{rport}"
TRACE_PARAMETERS = ("from", "to", "protocol", "port", "sport")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(status=status, content_type="application/json", charset="utf-8",
                    body=json.dumps(body, indent=1).encode())


def json_error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def json_body(req: Request, required: Iterable[str] = (), optional: Iterable[str] = ()) -> Dict[str, Any]:
    """The request's JSON object, with exactly the fields allowed; HttpError otherwise."""
    return json_object(req.content_length or 0, lambda _length: req.body, required, optional)


def answers_json(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Bad requests become a 400 or 404 JSON error, unexpected exceptions a 500 JSON error,
    never a stack trace."""
    def wrapper(self: Any, req: Request, **kwargs: Any) -> Response:
        try:
            return handler(self, req, **kwargs)
        except NoSuchEntry as e:
            return json_error(404, str(e))
        except (InvalidRequest, IpvsadmError) as e:
            return json_error(400, str(e))
        except HttpError as e:
            return json_error(e.status, str(e))
        except (UnknownRealServer, NotBlocked, UnknownNode) as e:
            return json_error(404, str(e.args[0]))
        except TraceUnavailable as e:
            return json_error(503, str(e))
        except Exception:  # noqa: BLE001 - the API must answer, the log keeps the trace
            LOG.exception("REST %s %s failed", req.method, req.path)
            return json_error(500, "internal error while serving %s %s; see the controller log"
                              % (req.method, req.path))
    wrapper.__name__ = handler.__name__
    return wrapper


class GuardedController(ControllerBase):
    """A controller whose every request the app's gate judges before a handler sees it."""

    def __init__(self, req: Request, link: Any, data: Dict[str, Any], **config: Any) -> None:
        super().__init__(req, link, data, **config)
        self.app = data[APP_KEY]

    def __call__(self, req: Request) -> Response:
        has_body = (req.content_length or 0) > 0 or "chunked" in req.headers.get("Transfer-Encoding", "").lower()
        refusal = self.app.gate.check(req.method, req.headers, list(req.GET.keys()), has_body)
        if refusal is not None:
            self.app.ops.refused(req.method, req.path, self.app.gate.door(req.headers), refusal, self.app.gate.unlogged)
            return json_error(refusal.status, refusal.message)
        return super().__call__(req)

    def door(self, req: Request) -> str:
        return self.app.gate.door(req.headers)


class LbRestApi(GuardedController):

    @route("lb", "/lb/status", methods=["GET"])
    @answers_json
    def get_status(self, req: Request, **_: Any) -> Response:
        return json_response(dict(self.app.state.status(), flows_in_sync=self.app.flows_in_sync(),
                                  loops=self.app.loops.status(), api=self.app.gate.status()))

    @route("lb", "/lb/persistence", methods=["GET"])
    @answers_json
    def get_persistence(self, req: Request, **_: Any) -> Response:
        """The persistent services' clients and the real server each keeps (ipvsadm -Lnc's
        templates), as the active proxy learned them, read every few seconds."""
        return json_response({"entries": self.app.state.persistence_view()})

    @route("lb", "/lb/trace", methods=["GET"])
    @answers_json
    def get_trace(self, req: Request, **_: Any) -> Response:
        """?from=HOST&to=ADDRESS[&protocol=tcp|udp|icmp][&port=N][&sport=N]: what that packet meets
        (controller/trace.py)."""
        query = dict(req.GET)
        unknown = sorted(set(query) - set(TRACE_PARAMETERS))
        if unknown or not {"from", "to"} <= set(query):
            raise InvalidRequest("a trace takes ?from=HOST&to=ADDRESS, and may add protocol, port and sport%s"
                                 % (" (not %s)" % ", ".join(unknown) if unknown else ""))
        return json_response(self.app.trace(query.pop("from"), query.pop("to"), **query))

    @route("lb", "/lb/backends", methods=["GET"])
    @answers_json
    def get_backends(self, req: Request, **_: Any) -> Response:
        return json_response(self.app.state.backends())

    @route("lb", "/lb/backends/{name}", methods=["PUT"])
    @answers_json
    def put_backend(self, req: Request, name: str, **_: Any) -> Response:
        """{"weight": n}: 0 drains (no new connections; established ones continue)."""
        body = json_body(req, required=("weight",))
        self.app.ops.apply("weight-changed", self.door(req), self.app.state.book.set_weight, name, body["weight"])
        return self._backend(name)

    @route("lb", "/lb/backends", methods=["POST"])
    @answers_json
    def add_backend(self, req: Request, **_: Any) -> Response:
        """{"name": web, "weight": n (optional)}: add a web host to the virtual service."""
        body = json_body(req, required=("name",), optional=("weight",))
        self.app.ops.apply("real-server-added", self.door(req), self.app.state.book.add_member, body["name"],
                           body.get("weight"))
        return self._backend(body["name"], status=201)

    @route("lb", "/lb/backends/{name}", methods=["DELETE"])
    @answers_json
    def remove_backend(self, req: Request, name: str, **_: Any) -> Response:
        """Take a real server out of the virtual service; its established connections continue."""
        self.app.ops.apply("real-server-removed", self.door(req), self.app.state.book.remove_member, name)
        return self._backend(name)

    @route("lb", "/lb/services", methods=["GET"])
    @answers_json
    def get_services(self, req: Request, **_: Any) -> Response:
        """Every virtual service with its real servers, and the rules as `ipvsadm -S -n` saves them."""
        return json_response({"services": self.app.state.services_view(), "rules": self.app.state.book.rules()})

    @route("lb", "/lb/services", methods=["POST"])
    @answers_json
    def add_service(self, req: Request, **_: Any) -> Response:
        """{"protocol": "tcp"|"udp", "vip", "port", "scheduler": "mh", "persistence": null,
        "netmask"}: a new virtual service (-A)."""
        body = json_body(req, required=requests.SERVICE_FIELDS, optional=requests.SERVICE_OPTIONS)
        command = requests.add_service(body)
        self.app.ops.change_services(command, self.door(req))
        return self._service(command.key, 201)

    @route("lb", "/lb/ipvsadm", methods=["POST"])
    @answers_json
    def ipvsadm(self, req: Request, **_: Any) -> Response:
        """{"command": "-A -u 10.0.0.100:53 -s mh"}: one change in ipvsadm's own words (the CLI's
        `lb -A ...`): what it did."""
        body = json_body(req, required=("command",), optional=())
        if not isinstance(body["command"], str):
            raise InvalidRequest("command must be a string of ipvsadm's options, got %s" % json.dumps(body["command"]))
        return json_response({"done": self.app.ops.change_services(parse_command(body["command"]), self.door(req))})

    @route("lb", SERVICE_PATH, methods=["GET"])
    @answers_json
    def get_service(self, req: Request, protocol: str, vip: str, port: str, **_: Any) -> Response:
        return self._service(requests.service_key(protocol, vip, port))

    @route("lb", SERVICE_PATH, methods=["PUT"])
    @answers_json
    def edit_service(self, req: Request, protocol: str, vip: str, port: str, **_: Any) -> Response:
        """{"scheduler", "persistence", "netmask", "sorry_server"}: the service changed (-E), what
        is not given kept as it is; persistence: seconds or null; sorry_server: {"address",
        "port", "method"} or null."""
        key = requests.service_key(protocol, vip, port)
        body = json_body(req, optional=requests.EDIT_OPTIONS)
        if "sorry_server" in body:
            entry = requests.sorry_server(key, body["sorry_server"], self.app.description.mode)
            self.app.ops.set_sorry_server(key, entry, self.door(req))
        if {"scheduler", "persistence", "netmask"} & set(body):
            self.app.ops.change_services(requests.edit_service(key, body, self.app.state.book.service(key)),
                                         self.door(req))
        return self._service(key)

    @route("lb", SERVICE_PATH, methods=["DELETE"])
    @answers_json
    def remove_service(self, req: Request, protocol: str, vip: str, port: str, **_: Any) -> Response:
        """The service removed (-D): its port closes on its VIP."""
        key = requests.service_key(protocol, vip, port)
        self.app.ops.change_services(Command("-D", key=key), self.door(req))
        return json_response({"service": str(key), "removed": True})

    @route("lb", SERVICE_PATH + "/real_servers", methods=["POST"])
    @answers_json
    def add_real_server(self, req: Request, protocol: str, vip: str, port: str, **_: Any) -> Response:
        """{"address", "port", "method": "nat"|"dr"|"tun", "weight"}: a real server joins (-a)."""
        key = requests.service_key(protocol, vip, port)
        body = json_body(req, required=requests.SERVER_FIELDS, optional=requests.SERVER_OPTIONS)
        command = requests.server_command("-a", key, body, None, self.app.description.mode)
        self.app.ops.change_services(command, self.door(req))
        return self._service(key, 201)

    @route("lb", SERVER_PATH, methods=["PUT"])
    @answers_json
    def edit_real_server(self, req: Request, protocol: str, vip: str, port: str, address: str, rport: str,
                         **_: Any) -> Response:
        """{"method", "weight"}: a real server changed (-e), what is not given kept as it is;
        weight 0 is quiescent (no new connections, established ones continue)."""
        key, server = requests.service_key(protocol, vip, port), requests.endpoint(address, rport)
        body = json_body(req, optional=requests.SERVER_OPTIONS[1:])
        current = self.app.state.book.service(key).real_server(server)
        if current is None:
            raise NoSuchEntry("%s:%d is not a real server of %s" % (server + (key,)))
        self.app.ops.change_services(requests.server_command("-e", key, body, current, current.method),
                                     self.door(req))
        return self._service(key)

    @route("lb", SERVER_PATH, methods=["DELETE"])
    @answers_json
    def remove_real_server(self, req: Request, protocol: str, vip: str, port: str, address: str, rport: str,
                           **_: Any) -> Response:
        """A real server leaves (-d); its established connections continue while it lives."""
        key, server = requests.service_key(protocol, vip, port), requests.endpoint(address, rport)
        self.app.ops.change_services(Command("-d", key=key, server=server), self.door(req))
        return self._service(key)

    @route("lb", "/lb/blocks", methods=["GET"])
    @answers_json
    def get_blocks(self, req: Request, **_: Any) -> Response:
        return json_response({"blocks": self.app.state.blocks_view()})

    @route("lb", "/lb/blocks", methods=["POST"])
    @answers_json
    def add_block(self, req: Request, **_: Any) -> Response:
        """{"ip": source, "seconds": ban time (default 600), "reason": text}: drop the source at
        the public edge (s_pub) until the ban ends."""
        body = json_body(req, required=("ip",), optional=("seconds", "reason"))
        ip = self.app.ops.block(body["ip"], body.get("seconds", DEFAULT_BAN_SECONDS),
                                body.get("reason", "blocked through the REST API"), self.door(req))
        return json_response(next(b for b in self.app.state.blocks_view() if b["ip"] == ip), 201)

    @route("lb", "/lb/blocks/{ip}", methods=["DELETE"])
    @answers_json
    def remove_block(self, req: Request, ip: str, **_: Any) -> Response:
        self.app.ops.unblock(ip, self.door(req))
        return json_response({"ip": ip, "blocked": False})

    @route("lb", "/lb/nodes", methods=["GET"])
    @answers_json
    def get_nodes(self, req: Request, **_: Any) -> Response:
        return json_response({"nodes": self.app.state.nodes()})

    @route("lb", "/lb/nodes/{name}/fail", methods=["POST"])
    @answers_json
    def fail_node(self, req: Request, name: str, **_: Any) -> Response:
        """{"kind": "link"}: every port of the node's cables taken down, as a cut."""
        body = json_body(req, required=("kind",))
        self.app.ops.fail_node(name, body["kind"], self.door(req))
        return self._node(name)

    @route("lb", "/lb/nodes/{name}/recover", methods=["POST"])
    @answers_json
    def recover_node(self, req: Request, name: str, **_: Any) -> Response:
        self.app.ops.recover_node(name, self.door(req))
        return self._node(name)

    @route("lb", "/lb/cluster", methods=["GET"])
    @answers_json
    def get_cluster(self, req: Request, **_: Any) -> Response:
        """The cluster's description: every node, address, switch port and cable."""
        return json_response(json.loads(self.app.description.to_json(compact=True)))

    @route("lb", "/lb/alerts", methods=["GET"])
    @answers_json
    def get_alerts(self, req: Request, **_: Any) -> Response:
        return json_response({"alerts": self.app.ops.latest_alerts(), "reviewer": bool(self.app.ops.alerts_file)})

    def _node(self, name: str) -> Response:
        return json_response(next(n for n in self.app.state.nodes() if n["name"] == name))

    def _service(self, key: Optional[ServiceKey], status: int = 200) -> Response:
        assert key is not None, "every route here names a service"
        self.app.state.book.service(key)        # NoSuchEntry (404) if there is none
        return json_response(next(s for s in self.app.state.services_view() if s["service"] == str(key)), status)

    def _backend(self, name: str, status: int = 200) -> Response:
        row = next(b for b in self.app.state.backends()["backends"] if b["name"] == name)
        return json_response(row, status)


class DashboardPage(GuardedController):
    """The live dashboard: a page and its two files, served as they are (no CDN, no build)."""

    @route("dashboard", "/", methods=["GET"])
    def root(self, req: Request, **_: Any) -> Response:
        return Response(status=302, location="/dashboard")

    @route("dashboard", "/dashboard", methods=["GET"])
    def page(self, req: Request, **_: Any) -> Response:
        return dashboard_file("index.html")

    @route("dashboard", "/dashboard/{name}", methods=["GET"], requirements={"name": "|".join(DASHBOARD_FILES)})
    def asset(self, req: Request, name: str, **_: Any) -> Response:
        return dashboard_file(name)


def dashboard_file(name: str) -> Response:
    with open(os.path.join(DASHBOARD_DIR, name), "rb") as f:
        response = Response(status=200, content_type=DASHBOARD_FILES[name], charset="utf-8", body=f.read())
    response.cache_control = "no-cache"
    return response


def _known_routes(*controllers: type) -> Mapper:
    """A method-blind mapper of controllers' routes, each carrying the methods it allows."""
    mapper = Mapper()
    for controller in controllers:
        for _, method in inspect.getmembers(controller, lambda m: hasattr(m, "routing_info")):
            info = method.routing_info
            mapper.connect(info["path"], requirements=info["requirements"] or {},
                           allowed=", ".join(info["methods"] or ["any"]))
    return mapper


class NotFoundApi(GuardedController):
    """Registered after LbRestApi: what no route matched gets a JSON 405 (known path, wrong
    method) or 404, instead of Ryu's default HTML page."""
    KNOWN = _known_routes(LbRestApi, DashboardPage)

    @route("fallback", "/{path}", requirements={"path": r"[\s\S]*"})     # newlines too
    def not_found(self, req: Request, **_: Any) -> Response:
        match = self.KNOWN.match(req.path)
        if match:
            return json_error(405, "%s is not allowed on %s; use %s"
                              % (req.method, req.path, match["allowed"]))
        return json_error(404, "no such resource: %s (the API is under /lb/)" % req.path)
