"""The static web server's files: nginx listens on the service port, names the host in
X-Served-By as the app does, answers /health, and serves a sparse bulk file."""
import os

import pytest

from topologies.staticweb import BULK_BYTES, check_web_server, nginx_config, write_docroot


def test_the_config_serves_the_port_names_the_host_and_keeps_its_files_in_its_root(tmp_path):
    config = nginx_config("web2", 8080, str(tmp_path), "/logs")
    assert "listen 8080 " in config
    assert "add_header X-Served-By web2 always;" in config
    assert "root %s/www;" % tmp_path in config
    assert "master_process off;" in config and "daemon off;" in config
    assert "error_log /logs/web2-nginx.log" in config


def test_the_docroot_has_a_small_index_a_health_file_and_a_sparse_bulk_file(tmp_path):
    write_docroot(str(tmp_path), "web1")
    www = tmp_path / "www"
    assert '"served_by": "web1"' in (www / "index.json").read_text()
    assert (www / "health").read_text() == "ok\n"
    bulk = os.stat(www / "bulk")
    assert bulk.st_size == BULK_BYTES and bulk.st_blocks * 512 < 1 << 20


def test_an_unknown_web_server_is_refused_naming_the_choices():
    assert check_web_server("nginx") == "nginx"
    with pytest.raises(ValueError, match="web server must be one of app, nginx, got 'apache'"):
        check_web_server("apache")
