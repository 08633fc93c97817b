"""The fast static web server a real server can run instead of the project's Python web app:
Debian's nginx-light serving small files, so that a benchmark measures the directors, not the
app (Cluster(web_server="nginx")). Pure functions: the harness writes the files into the run
directory and starts nginx in each web host.

It answers what the load tools and the health checks ask:
    GET /        a small file (about 100 bytes), with X-Served-By as the app sends it
    GET /health  200, for the controller's and HAProxy's checks
    GET /bulk    BULK_BYTES of zeros (a sparse file: no disk used), for throughput
nginx runs as one process (`master_process off`) so that killing it is a crash, as for the app.
"""
import os

APP = "app"
NGINX = "nginx"
WEB_SERVERS = (APP, NGINX)
BULK_BYTES = 1 << 30


def check_web_server(name):
    if name not in WEB_SERVERS:
        raise ValueError("web server must be one of %s, got %r" % (", ".join(WEB_SERVERS), name))
    return name


def nginx_config(web, port, root, log_dir):
    """nginx.conf for one web host; `root` is its document root, from write_docroot."""
    return """daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {log_dir}/{web}-nginx.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    default_type application/octet-stream;
    server {{
        listen {port} reuseport backlog=4096;
        root {root}/www;
        add_header X-Served-By {web} always;
        location = / {{
            default_type application/json;
            try_files /index.json =404;
        }}
    }}
}}
""".format(web=web, port=port, root=root, log_dir=log_dir)


def write_docroot(root, web):
    """The files nginx serves for one web host, under `root`."""
    www = os.path.join(root, "www")
    os.makedirs(www, exist_ok=True)
    os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
    with open(os.path.join(www, "index.json"), "w") as f:
        f.write('{"served_by": "%s", "server": "nginx", "note": "a small static file"}\n' % web)
    with open(os.path.join(www, "health"), "w") as f:
        f.write("ok\n")
    with open(os.path.join(www, "bulk"), "wb") as f:
        f.truncate(BULK_BYTES)
