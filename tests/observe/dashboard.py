"""Loads Ember's dashboard in headless Chromium (Debian's /usr/bin/chromium,
driven over the DevTools protocol; no browser is downloaded) and checks that
its charts show live numbers: non-zero, and changing from one second to the
next. Saves a screenshot. Prints a JSON report; exits non-zero on failure.

    python dashboard.py URL SCREENSHOT.png [--hold SECONDS]

--hold keeps the page open (refreshing every second) that long after the
checks, to measure what an attached browser costs the engine.
"""
import argparse
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


class Page:
    """One DevTools websocket to one page target."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)

    def call(self, method, **params):
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def eval(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


def start_browser(profile):
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "--window-size=1280,1500", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 30
    while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            sys.exit(f"{CHROMIUM} did not open its DevTools port")
        time.sleep(0.1)
    port = open(port_file).read().split()[0]
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                return proc, pages[0]["webSocketDebuggerUrl"]
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            sys.exit("no page target in Chromium")
        time.sleep(0.2)


def wait_for(page, expression, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if page.eval(expression):
            return
        time.sleep(0.25)
    state = page.eval("JSON.stringify(window.emberDashboard || null)")
    sys.exit(f"timed out waiting for {what}; dashboard state: {state}")


SNAPSHOT = """JSON.stringify({
  refreshes: window.emberDashboard.refreshes,
  errors: window.emberDashboard.errors,
  lastBatch: window.emberDashboard.lastBatch,
  totals: window.emberDashboard.totals,
  charts: window.emberDashboard.charts,
  pipeline: window.emberDashboard.pipeline,
  // Per canvas, how many pixels differ from the white background: a chart
  // that drew nothing is blank.
  inked: Object.fromEntries([...document.querySelectorAll('canvas')].map(c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i+1] < 200 || d[i+2] < 200) n++;
    return [c.id, n];
  })),
})"""


def last(values):
    return values[-1] if values else 0


def check(a, b):
    """The assertions on two snapshots taken seconds apart; returns failures."""
    failures = []
    for name in ("rates", "stages", "latency", "lag", "dead-letters"):
        if b["inked"].get(name, 0) < 50:
            failures.append(f"canvas {name} is blank ({b['inked'].get(name)} inked pixels)")
    rates = b["charts"].get("rates", {})
    if last(rates.get("input", [])) <= 0 or last(rates.get("processing", [])) <= 0:
        failures.append(f"rates chart shows no rate: {rates}")
    if last(b["charts"].get("stages", {}).get("total_ms", [])) <= 0:
        failures.append(f"stage chart shows no duration: {b['charts'].get('stages')}")
    if last(b["charts"].get("latency", {}).get("p99", [])) <= 0:
        failures.append(f"latency chart shows no p99: {b['charts'].get('latency')}")
    lag = b["charts"].get("lag", {})
    if not lag:
        failures.append("lag chart has no partition")
    elif max(max(v, default=0) for v in lag.values()) <= 0:
        failures.append(f"lag chart shows no lag under live traffic: {lag}")
    if sum(b["charts"].get("dead-letters", {}).values()) <= 0:
        failures.append(f"dead-letter chart shows none: {b['charts'].get('dead-letters')}")
    if b["lastBatch"] == a["lastBatch"]:
        failures.append(f"no new batch between snapshots (batch {a['lastBatch']})")
    if b["totals"]["read"] <= a["totals"]["read"]:
        failures.append(f"records read did not grow: {a['totals']['read']} -> {b['totals']['read']}")
    for name in ("rates", "stages", "latency", "lag"):
        if b["charts"].get(name) == a["charts"].get(name):
            failures.append(f"{name} chart did not change")
    if not b.get("pipeline") or not b["pipeline"].get("sql"):
        failures.append("no SQL transform shown")
    if b["errors"]:
        failures.append(f"{b['errors']} refresh(es) failed")
    return failures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("screenshot")
    parser.add_argument("--hold", type=float, default=0)
    args = parser.parse_args()
    profile = tempfile.mkdtemp(prefix="ember-chromium-")
    proc, ws_url = start_browser(profile)
    try:
        page = Page(ws_url)
        page.call("Page.enable")
        page.call("Emulation.setDeviceMetricsOverride", width=1280, height=1500,
                  deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=args.url)
        wait_for(page, "window.emberDashboard && window.emberDashboard.refreshes >= 2 && "
                 "window.emberDashboard.lastBatch !== null", "the first refreshes with a batch")
        first = json.loads(page.eval(SNAPSHOT))
        wait_for(page, f"window.emberDashboard.refreshes >= {first['refreshes'] + 3}",
                 "three more refreshes")
        second = json.loads(page.eval(SNAPSHOT))
        shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        failures = check(first, second)
        if args.hold > 0:
            time.sleep(args.hold)
        print(json.dumps({"failures": failures, "first": first["totals"], "second": second["totals"],
                          "inked": second["inked"], "screenshot": args.screenshot}))
        sys.exit(1 if failures else 0)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
