#!/usr/bin/env python3
"""The console in a real browser (headless Chromium through chromedriver and Selenium),
driven as a person would, against real processes from test/integration/harness.py.

    python3 test/browser/test_console.py [SUBSTRING...]

Prints "PASS name" / "FAIL name: reason" per test and a last line "N passed, N failed";
when Chromium, chromedriver or Selenium are missing it prints "SKIP browser tests: why" and
"0 passed, 0 failed, N skipped" instead. Screenshots of every page go to test/out/ (narrow
ones with a -narrow suffix). HB_BIN as for the integration tests.
"""

import json
import os
import shutil
import socket
import sys
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "test", "integration"))
OUT = os.path.join(REPO, "test", "out")

import harness  # noqa: E402
from harness import check  # noqa: E402
from sink import Reply, always  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)


def _import_selenium():
    try:
        import selenium  # noqa: F401
    except ImportError:
        # Debian's python3-selenium lives in the system's dist-packages, which a Python from
        # elsewhere (pyenv, a venv) does not search.
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from selenium import webdriver  # noqa: F401
        return None
    except ImportError as e:
        return "python3-selenium not importable (%s)" % e


def missing():
    """Why the browser tests cannot run here, or None."""
    if CHROMIUM is None:
        return "chromium not installed"
    if CHROMEDRIVER is None:
        return "chromedriver not installed (Debian: chromium-driver)"
    try:
        # chromedriver reaches the browser it starts as "localhost"; a minimal root without
        # /etc/hosts (debootstrap, some containers) cannot resolve it.
        socket.getaddrinfo("localhost", None)
    except OSError:
        return "'localhost' does not resolve here (no /etc/hosts entry), which chromedriver needs"
    return _import_selenium()


# -- a browser ----------------------------------------------------------------------------

class Browser:
    def __init__(self, env, width=1366, height=900):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--window-size=%d,%d" % (width, height), "--lang=en-GB",
                  "--user-data-dir=" + os.path.join(env.dir, "chromium-%d" % width)):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        from selenium.webdriver.common import utils

        class LoopbackService(Service):
            """Talks to chromedriver on 127.0.0.1: Selenium says "localhost", which a
            minimal root (debootstrap, a container) may not resolve."""

            @property
            def service_url(self):
                return "http://127.0.0.1:%d" % self.port

            def is_connectable(self):
                return utils.is_connectable(self.port, "127.0.0.1")

        self.d = webdriver.Chrome(
            service=LoopbackService(CHROMEDRIVER), options=o)
        self.d.set_window_size(width, height)
        self.base = "http://127.0.0.1:%d" % env.admin_port
        self.width = width

    def quit(self):
        self.d.quit()

    def open(self, hash_=""):
        self.d.get(self.base + "/" + hash_)

    def css(self, sel):
        from selenium.webdriver.common.by import By
        return self.d.find_elements(By.CSS_SELECTOR, sel)

    def wait(self, fn, what, timeout=15):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                v = fn()
                if v:
                    return v
            except Exception as e:  # noqa: BLE001 - stale elements while the view redraws
                last = e
            time.sleep(0.1)
        self.shot("timeout")
        raise harness.TestFailure("waited %ss for %s (last error %r); page text: %s" % (
            timeout, what, last, self.text()[:600]))

    def one(self, sel, timeout=15):
        return self.wait(lambda: (self.css(sel) or [None])[0], "element " + sel, timeout)

    def click(self, sel):
        el = self.one(sel)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()
        return el

    def button(self, label):
        """The visible button or link whose text is `label`."""
        from selenium.webdriver.common.by import By

        def find():
            for el in self.d.find_elements(By.XPATH, "//button|//a"):
                if el.text.strip() == label and el.is_displayed():
                    return el
            return None
        el = self.wait(find, "button %r" % label)
        self.d.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
        el.click()
        return el

    def fill(self, name, value):
        el = self.one("[name='%s']" % name)
        el.clear()
        if value:
            el.send_keys(value)
        return el

    def set_value(self, name, value):
        """Set a textarea's text at once (send_keys would auto-indent nothing but is slow)."""
        el = self.one("[name='%s']" % name)
        self.d.execute_script(
            "arguments[0].value = arguments[1];"
            "arguments[0].dispatchEvent(new Event('input', {bubbles: true}))", el, value)
        return el

    def text(self):
        try:
            return self.d.find_element("tag name", "body").text
        except Exception:  # noqa: BLE001
            return ""

    def hash(self):
        return self.d.execute_script("return location.hash")

    def shot(self, name):
        os.makedirs(OUT, exist_ok=True)
        suffix = "" if self.width > 800 else "-narrow"
        self.d.save_screenshot(os.path.join(OUT, "%s%s.png" % (name, suffix)))

    def no_alert(self, what):
        from selenium.common.exceptions import NoAlertPresentException
        try:
            a = self.d.switch_to.alert
            txt = a.text
            a.dismiss()
            harness.fail("%s: an alert opened: %r" % (what, txt))
        except NoAlertPresentException:
            pass

    def console_errors(self):
        """Errors the page logged (a CSP violation shows here), minus expected 4xx fetches."""
        out = []
        for e in self.d.get_log("browser"):
            if e["level"] == "SEVERE" and "status of 4" not in e["message"]:
                out.append(e["message"])
        return out


def sign_in(b, env):
    b.open()
    b.one("input[name='token'][type='password']")
    b.shot("signin")
    b.fill("token", "wrong")
    b.button("Sign in")
    b.wait(lambda: "not the admin token" in b.text(), "the wrong-token message")
    b.fill("token", env.token)
    b.button("Sign in")
    b.wait(lambda: b.css("#q-ready"), "the overview")


def post_hook(url, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body.encode(), headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


# -- tests --------------------------------------------------------------------------------

def test_console_flow(env):
    env.start_ingress()
    sink = env.sink()
    b = Browser(env)
    try:
        sign_in(b, env)
        check(env.token not in json.dumps(b.d.execute_script(
            "return [Object.assign({}, localStorage), Object.assign({}, sessionStorage), document.cookie]")),
            "the token is kept in web storage or a readable cookie")
        b.shot("overview-empty")

        # New bridge through the form: a JSON mistake is shown where it is, and blocks Save.
        b.button("Bridges")
        b.wait(lambda: "No bridges yet" in b.text(), "the empty bridge list")
        b.button("New bridge")
        b.fill("name", "Orders to ERP")
        b.fill("outbound_url", sink.url("/erp"))
        b.set_value("payload", '{"order": "$payload.id",\n  "total": }')
        err = b.wait(lambda: b.one("#e-payload").text, "the payload's JSON error")
        check("line 2, column 12" in err, "JSON error without its position: %r" % err)
        b.button("Save")
        b.wait(lambda: "Fix the fields" in b.text(), "Save refused while a field is not JSON")
        check(env.api("GET", "/api/bridges").json()["bridges"] == [], "saved with bad JSON")
        b.set_value("payload", '{"order": "$payload.id", "total": "$payload.total"}')
        check(b.one("#e-payload").text == "", "the JSON error stays after a fix")
        b.set_value("headers", '{"X-Source": "hookbridge"}')
        b.set_value("env", '{"TOKEN": "s3cret-value"}')
        # The server's 400 lands beside the field it names.
        b.fill("retries", "99")
        b.shot("bridge-new")
        b.button("Save")
        msg = b.wait(lambda: b.one("#e-retries").text, "the server's error beside retries")
        check("retries" in msg, "retries error: %r" % msg)
        check("invalid" in b.one(".field[data-field='retries']").get_attribute("class"),
              "the retries field is not marked")
        b.fill("retries", "2")
        b.button("Save")
        b.wait(lambda: b.hash().startswith("#/bridges/brg_"), "the saved bridge's page")
        bid = b.hash().split("/")[2]
        inbound = b.one("#inbound-url").text
        check(inbound.endswith("/hooks/" + env.api("GET", "/api/bridges/" + bid).json()["endpoint"]),
              "inbound URL shown: %r" % inbound)
        # Write-only values come back masked.
        b.d.refresh()
        envtext = b.wait(lambda: b.one("textarea[name='env']").get_attribute("value"), "env")
        check("********" in envtext and "s3cret" not in envtext, "env shows %r" % envtext)
        check("s3cret" not in b.d.page_source, "a secret is in the page")
        b.shot("bridge-edit")
        # Saving again without touching env keeps the secret.
        b.fill("name", "Orders to ERP (v2)")
        b.button("Save")
        b.wait(lambda: "Orders to ERP (v2)" in b.one("h1").text, "the renamed bridge")

        # The bridge list shows it with its URL and a copy button.
        b.button("Bridges")
        row = b.one("#bridges tr[data-id='%s']" % bid)
        check("Copy" in row.text and "active" in row.text, "bridge row: %r" % row.text)
        b.shot("bridges")

        # A webhook arrives, a worker delivers it, and the console shows every part of it.
        status, j = post_hook(inbound, '{"id": "A-1001", "total": 42.5}', {"X-Shop": "demo"})
        check(status == 202, "webhook: %r %r" % (status, j))
        eid = j["event_id"]
        env.start_worker()
        env.wait_event(eid, {"delivered"})
        b.button("Events")
        b.wait(lambda: b.css("#events tr[data-id='%s']" % eid), "the event in the list")
        b.wait(lambda: "delivered" in b.one("#events tr[data-id='%s']" % eid).text
               or b.d.refresh(), "delivered in the list")
        b.shot("events")
        b.click("#events tr[data-id='%s'] a" % eid)
        b.wait(lambda: b.hash() == "#/events/" + eid, "the event's page")
        b.wait(lambda: "HTTP 200" in b.text(), "the attempt's response")
        page = b.text()
        for want in ("Inbound request", "A-1001", "X-Shop", "Outbound request", sink.url("/erp"),
                     '"order": "A-1001"', "Attempt 1"):
            check(want.lower() in page.lower(), "event page lacks %r" % want)
        b.shot("event")
        # A pasted link (or a reload) opens the same view.
        b.d.get(b.base + "/#/events/" + eid)
        b.wait(lambda: "Attempt 1" in b.text(), "the event after a reload")

        # Replay: a new event of the same request, opened at once.
        b.button("Replay")
        b.wait(lambda: b.hash().startswith("#/events/evt_") and b.hash() != "#/events/" + eid,
               "the replayed event's page")
        replay_id = b.hash().split("/")[2]
        env.wait_event(replay_id, {"delivered"})
        b.wait(lambda: "Replay of" in b.text() and eid in b.text(), "replay_of link")

        # Send a test event from the bridge page: it opens the event it made.
        b.open("#/bridges/" + bid)
        b.button("Send a test event")
        b.wait(lambda: b.hash().startswith("#/events/evt_") and
               b.hash() not in ("#/events/" + eid, "#/events/" + replay_id), "the test event")
        b.wait(lambda: "hookbridge.test" in b.text(), "the test event's body")

        # Filters: bridge and status, put in the URL (so a reload keeps them).
        b.open("#/events")
        from selenium.webdriver.support.ui import Select
        b.wait(lambda: len(b.css("select[name='bridge_id'] option")) > 1, "bridges in the filter")
        Select(b.one("select[name='bridge_id']")).select_by_value(bid)
        b.click("input[name='status'][value='delivered']")
        b.button("Apply filters")
        b.wait(lambda: "status=delivered" in b.hash() and "bridge_id=" + bid in b.hash(), "hash")
        b.wait(lambda: len(b.css("#events tbody tr")) >= 2, "filtered rows")
        check(all("delivered" in r.text for r in b.css("#events tbody tr")), "a non-delivered row")
        b.d.refresh()
        b.wait(lambda: b.one("input[name='status'][value='delivered']").is_selected(),
               "the status filter after a reload")
        # Several statuses at once, a time range and a text search are sent by their names.
        b.click("input[name='status'][value='failed']")
        b.fill("q", "A-1001")
        b.button("Apply filters")
        b.wait(lambda: "status=delivered%2Cfailed" in b.hash() and "q=A-1001" in b.hash(),
               "several statuses and q in the URL")
        b.shot("events-filtered")

        # Deactivate: the bridge refuses webhooks; delete asks first.
        b.open("#/bridges/" + bid)
        b.button("Deactivate")
        b.wait(lambda: b.css(".badge.inactive"), "the inactive badge")
        status, _ = post_hook(inbound, "{}")
        check(status == 503, "a deactivated bridge answered %r" % status)
        b.button("Activate")
        b.wait(lambda: b.css(".badge.active"), "the active badge")
        b.button("Delete")
        b.one("#confirm-delete")
        check(env.api("GET", "/api/bridges/" + bid).status == 200, "deleted before confirming")
        b.shot("bridge-delete-confirm")
        b.button("Yes, delete it")
        b.wait(lambda: b.hash() == "#/bridges", "the bridge list after delete")
        b.wait(lambda: "No bridges yet" in b.text(), "an empty list")
        check(env.api("GET", "/api/bridges/" + bid).status == 404, "bridge not deleted")

        # Overview with figures, then sign out: the API no longer answers this browser.
        b.button("Overview")
        b.wait(lambda: b.one("#h-accepted .value").text not in ("", "0"), "accepted count")
        b.wait(lambda: b.css(".chart polyline.accepted"), "the chart")
        check("s ago" in b.text(), "no worker heartbeat age: %s" % b.text()[:400])
        b.wait(lambda: not b.one("#toast").is_displayed(), "the toast to go", timeout=8)
        b.shot("overview")
        errors = b.console_errors()
        check(not errors, "browser console errors: %r" % errors[:3])
        b.button("Sign out")
        b.one("input[name='token']")
        b.open("#/bridges")
        b.one("input[name='token']")
    finally:
        b.quit()


XSS = ['<img src=x onerror="window.__xss=1;alert(1)">', "<script>window.__xss=2;alert(2)</script>",
       '<svg onload="window.__xss=3;alert(3)">', '"><iframe src="javascript:alert(4)">']


def test_console_xss_inert(env):
    env.start_ingress()
    sink = env.sink(always(Reply(500, {"X-Evil": XSS[0]}, " ".join(XSS))))
    br = env.create_bridge(name=XSS[2] + " bridge", outbound_url=sink.url("/x"), retries=0,
                           headers={"X-Forward": XSS[0]})
    body = json.dumps({"name": XSS[0], "note": XSS[1], "svg": XSS[2], XSS[3]: "key"})
    status, j = post_hook(env.public_url + "/hooks/" + br["endpoint"], body,
                          {"X-Evil": XSS[0], "X-Svg": XSS[2]})
    check(status == 202, "webhook: %r" % status)
    eid = j["event_id"]
    env.start_worker()
    env.wait_event(eid, {"failed"})
    b = Browser(env)
    try:
        sign_in(b, env)
        for view in ("#/events/" + eid, "#/events", "#/bridges", "#/bridges/" + br["id"]):
            b.open(view)
            b.wait(lambda: XSS[2] in b.text(), "the literal markup on " + view)
            time.sleep(0.3)
            b.no_alert(view)
            check(b.d.execute_script("return window.__xss") is None, "script ran on " + view)
            check(not b.css("main img, main svg[onload], main iframe, main script"),
                  "markup from data became elements on " + view)
            if view.startswith("#/events/"):
                page = b.text()
                for s in XSS[:3]:
                    check(s in page, "%r not shown literally" % s)
                b.shot("event-xss")
        check(not b.console_errors(), "console errors: %r" % b.console_errors()[:3])
    finally:
        b.quit()


def test_console_narrow(env):
    """Every page at a phone's width: nothing wider than the window, screenshots."""
    env.start_ingress()
    sink = env.sink()
    br = env.create_bridge(name="Narrow screen bridge with a long name", outbound_url=sink.url("/n"))
    eid = env.send(br, body=b'{"hello": "narrow"}')
    env.start_worker()
    env.wait_event(eid, {"delivered"})
    b = Browser(env, width=420, height=900)
    try:
        b.open()
        b.one("input[name='token']")
        b.shot("signin")
        b.fill("token", env.token)
        b.button("Sign in")
        b.wait(lambda: b.css("#q-ready"), "overview")
        pages = [("", "overview", "#q-ready"), ("#/bridges", "bridges", "#bridges"),
                 ("#/bridges/new", "bridge-new", "textarea[name='routes']"),
                 ("#/bridges/" + br["id"], "bridge-edit", "#inbound-url"),
                 ("#/events", "events", "#events"), ("#/events/" + eid, "event", "#attempts")]
        for h, name, sel in pages:
            b.open(h)
            b.one(sel)
            time.sleep(0.2)
            over = b.d.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth")
            check(over <= 0, "%s is %dpx wider than a 420px window" % (name, over))
            b.shot(name)
    finally:
        b.quit()


DEAD = "http://127.0.0.1:9/x"  # nothing listens: every attempt fails at once


def test_console_bulk_replay(env):
    """Bridges show their last 24 h by status; the events page replays its filter in bulk
    after a confirmation that says how many; the bridge form offers the auth presets,
    highlights JSON and marks where it breaks; every view keeps its URL."""
    env.start_ingress()
    sink = env.sink()
    bad = env.create_bridge(name="Invoices to accounting", outbound_url=DEAD, retries=0)
    good = env.create_bridge(name="Orders to ERP", outbound_url=sink.url("/erp"), retries=0)
    env.start_worker()
    failed = [env.send(bad, body=('{"invoice": "INV-%d"}' % i).encode()) for i in range(4)]
    delivered = [env.send(good) for _ in range(3)]
    env.wait_events(failed, ("failed",), timeout=30)
    env.wait_events(delivered, ("delivered",), timeout=30)
    for width in (1366, 420):
        b = Browser(env, width=width)
        try:
            sign_in(b, env)
            b.open("#/bridges")
            row = b.one("#bridges tr[data-id='%s']" % bad["id"])
            # 4 failed; on the second (narrow) pass also the 4 failed replays of the first
            want = "4" if width > 800 else "8"
            b.wait(lambda: want in row.find_element("css selector", "td.counts").text
                   and "failed" in row.text, "the failed count of the last 24 h")
            cells = b.one("#bridges tr[data-id='%s'] td.counts" % good["id"]).text
            check("3" in cells and "failed" not in cells, "good bridge counts: %r" % cells)
            b.shot("bridges-counts")
            # A count links to those events.
            b.click("#bridges tr[data-id='%s'] td.counts a" % bad["id"])
            b.wait(lambda: "status=failed" in b.hash() and bad["id"] in b.hash(), "count link")
            b.wait(lambda: len(b.css("#events tbody tr")) == int(want), "the failed events")
            if width < 800:
                b.shot("events-filtered")
                b.open("#/bridges/" + bad["id"])
                from selenium.webdriver.support.ui import Select
                Select(b.one("#auth-preset")).select_by_value("github")
                b.set_value("filter", '{"$payload.type": {"eq": }}')
                b.wait(lambda: b.one("#e-filter").text, "the filter's JSON error")
                b.d.execute_script("document.querySelector(\".field[data-field='filter']\")"
                                   ".scrollIntoView({block: 'start'})")
                time.sleep(0.2)
                over = b.d.execute_script(
                    "return document.documentElement.scrollWidth - window.innerWidth")
                check(over <= 0, "the bridge form is %dpx wider than the window" % over)
                b.shot("bridge-form-json")
                continue

            # Text search is not part of a bulk replay: the page says so, nothing is sent.
            b.fill("q", "INV-1")
            b.button("Apply filters")
            b.wait(lambda: "q=INV-1" in b.hash(), "q in the URL")
            b.button("Replay these events")
            b.wait(lambda: "text search cannot be replayed" in b.text(), "the q explanation")
            b.fill("q", "")
            b.button("Apply filters")
            b.wait(lambda: "q=" not in b.hash() and "status=failed" in b.hash(), "q cleared")
            b.wait(lambda: len(b.css("#events tbody tr")) == 4, "the four failed events again")
            b.button("Replay these events")
            b.wait(lambda: "Replay 4 events matching this filter?" in b.text(), "the count asked")
            b.shot("events-bulk-replay-confirm")
            check(len(env.all_events(bridge_id=bad["id"])) == 4, "replayed before confirming")
            b.button("Yes, replay 4 events")
            b.wait(lambda: "Replayed 4 event(s)" in b.text(), "the replay's toast")
            replays = [e for e in env.all_events(bridge_id=bad["id"]) if e.get("replay_of")]
            check(sorted(e["replay_of"] for e in replays) == sorted(failed),
                  "replays: %r" % replays)
            check(not [e for e in env.all_events(bridge_id=good["id"]) if e.get("replay_of")],
                  "the other bridge's events were replayed")
            # With no filter at all the page asks for one.
            b.open("#/events")
            b.one("#events")
            b.button("Replay these events")
            b.wait(lambda: "Choose a bridge, a status or a time range first" in b.text(),
                   "the no-filter explanation")

            # The bridge form: auth presets fill a template, JSON is highlighted, a mistake
            # is marked where it is; pause and resume are offered.
            b.open("#/bridges/" + bad["id"])
            b.one("#pause")
            from selenium.webdriver.support.ui import Select
            Select(b.one("#auth-preset")).select_by_value("stripe")
            auth = b.one("textarea[name='auth']").get_attribute("value")
            check(json.loads(auth).get("type") == "stripe" and "tolerance_seconds" in auth,
                  "stripe preset: %r" % auth)
            check(b.one("#auth-preset").get_attribute("value") == "", "the preset stays chosen")
            check(b.css(".field[data-field='auth'] .hl .j-key"), "auth JSON not highlighted")
            b.set_value("filter", '{"$payload.type": {"eq": "invoice.paid"},}')
            err = b.wait(lambda: b.one("#e-filter").text, "the filter's JSON error")
            check("line 1, column 42" in err, "filter error position: %r" % err)
            check(b.css(".field[data-field='filter'] .hl .j-err"), "the error is not marked")
            for name in ("headers", "payload", "filter", "schema", "auth", "env", "routes"):
                check(b.css(".editor textarea[name='%s']" % name), "no JSON editor " + name)
            b.d.execute_script("document.getElementById('more-fields').open = true")
            b.d.execute_script("document.querySelector(\".field[data-field='auth']\")"
                               ".scrollIntoView({block: 'start'})")
            time.sleep(0.2)
            b.shot("bridge-form-json")
            # Leaving the page drops the unsaved edits; the bridge is unchanged.
            check(env.api("GET", "/api/bridges/" + bad["id"]).json().get("auth", {}).get("type")
                  in (None, "none"), "auth saved without Save")
            errors = b.console_errors()
            check(not errors, "browser console errors: %r" % errors[:3])
        finally:
            b.quit()


def test_console_write_only_destination_fields(env):
    """The bridge form shows a route's destination secrets (here oauth2's client_secret) as
    ********, never the value, and a Save that leaves them as shown keeps the stored, sealed
    secret unchanged."""
    env.start_ingress()
    secret = "cs-" + "q7Lm2x" * 4
    b = env.create_bridge(
        name="Invoices to Xero", outbound_url="http://127.0.0.1:9/api",
        oauth2={"grant": "client_credentials", "token_url": "http://127.0.0.1:9/token",
                "client_id": "console-test", "client_secret": secret})
    bid = b["id"]
    row = lambda: env.sql("SELECT data FROM bridges WHERE id = '%s'" % bid)[0][0]  # noqa: E731
    before = json.loads(row())["oauth2"]["client_secret"]
    check(secret not in row(), "the store holds the secret in plain text")
    br = Browser(env)
    try:
        sign_in(br, env)
        br.open("#/bridges/" + bid)
        text = br.wait(lambda: br.one("textarea[name='oauth2']").get_attribute("value"),
                       "the oauth2 editor")
        check("********" in text and secret not in text, "oauth2 shows %r" % text)
        check(secret not in br.d.page_source, "the client secret is in the page")
        br.shot("bridge-destination-secrets")
        br.fill("name", "Invoices to Xero (v2)")
        br.button("Save")
        br.wait(lambda: "Invoices to Xero (v2)" in br.one("h1").text, "the renamed bridge")
        check(br.console_errors() == [], "console errors: %r" % br.console_errors())
    finally:
        br.quit()
    after = json.loads(row())["oauth2"]["client_secret"]
    check(after == before, "Save changed the sealed client_secret")
    shown = env.api("GET", "/api/bridges/" + bid).json()["oauth2"]
    check(shown["client_secret"] == "********", "the API shows %r" % shown)


def test_console_event_list_shows_waiting(env):
    """Events of a paused bridge keep their status, and the events list says what they
    wait for (the same "waiting" as the event's own page)."""
    env.start_ingress()
    sink = env.sink()
    bridge = env.create_bridge(name="Kitchen orders", outbound_url=sink.url("/kitchen"))
    r = env.api("POST", "/api/bridges/%s/pause" % bridge["id"])
    check(r.status == 200, "pause answered %s" % r.status)
    env.start_worker()
    ids = [env.send(bridge) for _ in range(2)]
    deadline = time.time() + 30
    while time.time() < deadline:
        evs = [env.api("GET", "/api/events/" + i).json() for i in ids]
        if all(e.get("waiting") == "paused" for e in evs):
            break
        time.sleep(0.2)
    check(all(e.get("waiting") == "paused" for e in evs), "events not waiting: %r" % evs)
    br = Browser(env)
    try:
        sign_in(br, env)
        br.open("#/events?bridge_id=" + bridge["id"])
        br.wait(lambda: len(br.css("#events tbody tr")) == 2, "the two events")
        for i in ids:
            row = br.one("#events tr[data-id='%s']" % i)
            check("waiting: paused" in row.text, "row of %s: %r" % (i, row.text))
        br.shot("events-waiting")
        check(br.console_errors() == [], "console errors: %r" % br.console_errors())
    finally:
        br.quit()
    check(not sink.snapshot(), "a paused bridge's event was delivered")


TESTS = [test_console_flow, test_console_xss_inert, test_console_narrow, test_console_bulk_replay,
         test_console_write_only_destination_fields, test_console_event_list_shows_waiting]


def main(argv):
    sel = [t for t in TESTS if not argv or any(a in t.__name__ for a in argv)]
    why = missing()
    if why:
        print("SKIP browser tests: %s" % why)
        print("0 passed, 0 failed, %d skipped" % len(sel))
        return 0
    passed = failed = 0
    for t in sel:
        env = harness.Env(t.__name__)
        started = time.time()
        err = None
        try:
            t(env)
        except Exception as e:  # noqa: BLE001
            err = e
        problems = env.teardown()
        took = time.time() - started
        if err is None and not problems:
            print("PASS %s (%.1fs)" % (t.__name__, took))
            passed += 1
            shutil.rmtree(env.dir, ignore_errors=True)
        else:
            failed += 1
            print("FAIL %s: %s" % (t.__name__, str(err or problems[0]).splitlines()[0][:300]))
            if err is not None:
                print("    " + "".join(traceback.format_exception(err)[-4:]).replace("\n", "\n    "))
            for p in problems:
                print("    teardown: " + p)
            for p in env.procs:
                print("    --- %s log tail:\n    %s" % (p.name, p.tail(15).replace("\n", "\n    ")))
            print("    temp dir kept: " + env.dir)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
