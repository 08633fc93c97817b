"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright) against a
running cluster: a page opened without the run's token says so when a control is used, and one
opened with it (#token=...) takes it off the address bar; both web hosts shown healthy; the
active proxy failed from the page and the other shown carrying the VIP within 3 s; a real server
drained from the page, as the REST API agrees; an impossible weight refused with the API's own
words and nothing changed; the controller killed and restarted, the page saying so meanwhile and
coming back by itself; a trace typed into the page shown as the API gives it. Screenshots go into
the run's log directory (kept when the test fails)."""
import os

import pytest

from tests.emulation.browser import playwright
from tests.emulation.helpers import status, wait_for
from topologies.cluster import Cluster

pytestmark = pytest.mark.emulation

SHOWN = 3000            # ms the page may take to show a change (it polls every second)


def node(page, name):
    return page.locator("#topology g[data-node='%s']" % name)


def test_the_dashboard_shows_and_drives_the_cluster(browser):
    with Cluster(mode="nat", clients=2, webs=2, review=True) as cluster:
        shots = cluster.log_dir
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        tokenless = browser.new_page()
        tokenless.goto("http://127.0.0.1:%d/dashboard" % cluster.rest_port)
        tokenless.locator("#servers tr[data-server='web1'] button.drain").click()
        playwright.expect(tokenless.locator("#message")).to_contain_text("this page has no API token", timeout=SHOWN)
        tokenless.close()
        page.goto(cluster.dashboard_url)
        assert "token" not in page.url                      # taken off the address bar at once
        for web in ("web1", "web2"):
            playwright.expect(node(page, web)).to_have_attribute("data-state", "up", timeout=10_000)
        active = status(cluster)["active_proxy"]
        standby = next(p for p in cluster.description.proxies if p != active)
        playwright.expect(node(page, active)).to_have_attribute("data-state", "active", timeout=SHOWN)
        playwright.expect(page.locator("#services tr[data-service='-t 10.0.0.100:80']")).to_contain_text(
            "web1:80 (NAT, 1, up), web2:80 (NAT, 1, up)", timeout=SHOWN)
        page.screenshot(path=os.path.join(shots, "dashboard-1-healthy.png"), full_page=True)

        page.locator("#nodes tr[data-node='%s'] button.fail" % active).click()
        playwright.expect(node(page, standby)).to_have_attribute("data-state", "active", timeout=SHOWN)
        playwright.expect(node(page, active)).to_have_attribute("data-state", "failed", timeout=SHOWN)
        page.screenshot(path=os.path.join(shots, "dashboard-2-failover.png"), full_page=True)
        assert status(cluster)["active_proxy"] == standby

        page.locator("#servers tr[data-server='web1'] button.drain").click()
        playwright.expect(node(page, "web1")).to_have_attribute("data-state", "draining", timeout=SHOWN)
        web1 = next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == "web1")
        assert web1["weight"] == 0

        page.locator("#servers tr[data-server='web2'] input").fill("-1")
        page.locator("#servers tr[data-server='web2'] button", has_text="set").click()
        playwright.expect(page.locator("#message")).to_contain_text(
            "weight must be an integer from 0 to 65535, got -1", timeout=SHOWN)
        assert next(b for b in cluster.rest("GET", "/lb/backends")["backends"] if b["name"] == "web2")["weight"] == 1
        page.locator("#block-ip").fill("10.0.0.999")
        page.locator("#block-form button").click()
        playwright.expect(page.locator("#message")).to_contain_text("ip must be an IPv4 address", timeout=SHOWN)
        assert cluster.rest("GET", "/lb/blocks")["blocks"] == []

        # the trace typed into the page is the API's, word for word; a bad one says why
        page.locator("#trace-from").fill("c1")
        page.locator("#trace-to").fill(cluster.vip)
        page.locator("#trace-port").fill("80")
        page.locator("#trace-sport").fill("40000")
        page.locator("#trace-form button").click()
        expected = cluster.trace("c1", cluster.vip, 80, sport=40000)
        playwright.expect(page.locator("#trace")).to_have_text("\n".join(expected["lines"]), timeout=SHOWN)
        assert "verdict: reaches web2 by %s" % standby in expected["lines"][-1]   # web1 drains: no new connection
        page.locator("#trace-to").fill("192.0.2.1")
        page.locator("#trace-form button").click()
        playwright.expect(page.locator("#message")).to_contain_text("'192.0.2.1' is outside the cluster", timeout=SHOWN)
        page.screenshot(path=os.path.join(shots, "dashboard-trace.png"), full_page=True)

        page.locator("#nodes tr[data-node='%s'] button.recover" % active).click()
        playwright.expect(node(page, active)).to_have_attribute("data-state", "standby", timeout=10_000)
        page.locator("#servers tr[data-server='web1'] button.restore").click()
        playwright.expect(node(page, "web1")).to_have_attribute("data-state", "up", timeout=SHOWN)

        cluster.fail("controller", "crash")
        playwright.expect(page.locator("#connection")).to_have_text("controller unreachable", timeout=SHOWN)
        playwright.expect(page.locator("#message")).to_contain_text("The controller does not answer", timeout=SHOWN)
        page.screenshot(path=os.path.join(shots, "dashboard-3-controller-down.png"), full_page=True)
        cluster.recover("controller")
        playwright.expect(page.locator("#connection")).to_have_text("live", timeout=10_000)
        playwright.expect(page.locator("#message")).to_be_hidden(timeout=SHOWN)
        playwright.expect(node(page, standby)).to_have_attribute("data-state", "active", timeout=SHOWN)
        wait_for(lambda: status(cluster)["flows_in_sync"], 10, "the controller did not come back in sync")
