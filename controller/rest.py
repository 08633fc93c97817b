"""The controller's REST API (Ryu WSGI, JSON, bound to loopback by the launcher).

Every answer is JSON, errors included: {"error": "..."} with a 4xx or 5xx status.
"""
import inspect
import json
import logging

from routes import Mapper

from ryu.app.wsgi import ControllerBase, Response, route

APP_KEY = "lvsdn_app"
LOG = logging.getLogger("lvsdn.rest")


def json_response(body, status=200):
    return Response(status=status, content_type="application/json", charset="utf-8",
                    body=json.dumps(body, indent=1).encode())


def json_error(status, message):
    return json_response({"error": message}, status)


def answers_json(handler):
    """Turn an unexpected exception into a 500 JSON error instead of a stack trace."""
    def wrapper(self, req, **kwargs):
        try:
            return handler(self, req, **kwargs)
        except Exception:  # noqa: BLE001 - the API must answer, the log keeps the trace
            LOG.exception("REST %s %s failed", req.method, req.path)
            return json_error(500, "internal error while serving %s %s; see the controller log"
                              % (req.method, req.path))
    wrapper.__name__ = handler.__name__
    return wrapper


class LbRestApi(ControllerBase):
    def __init__(self, req, link, data, **config):
        super().__init__(req, link, data, **config)
        self.app = data[APP_KEY]

    @route("lb", "/lb/status", methods=["GET"])
    @answers_json
    def get_status(self, req, **_):
        return json_response(self.app.state.status())


def _known_routes(controller):
    """A method-blind mapper of a controller's routes, each carrying the methods it allows."""
    mapper = Mapper()
    for _, method in inspect.getmembers(controller, lambda m: hasattr(m, "routing_info")):
        info = method.routing_info
        mapper.connect(info["path"], requirements=info["requirements"] or {},
                       allowed=", ".join(info["methods"] or ["any"]))
    return mapper


class NotFoundApi(ControllerBase):
    """Registered after LbRestApi: what no route matched gets a JSON 405 (known path, wrong
    method) or 404, instead of Ryu's default HTML page."""
    KNOWN = _known_routes(LbRestApi)

    @route("fallback", "/{path:.*}", requirements={"path": ".*"})
    def not_found(self, req, **_):
        match = self.KNOWN.match(req.path)
        if match:
            return json_error(405, "%s is not allowed on %s; use %s"
                              % (req.method, req.path, match["allowed"]))
        return json_error(404, "no such resource: %s (the API is under /lb/)" % req.path)
