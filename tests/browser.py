"""Load a page in headless Chromium over the Chrome DevTools protocol and report what went wrong.

The protocol runs over --remote-debugging-pipe (file descriptors 3 and 4, NUL-separated JSON), so
no WebDriver, port or client library is needed.
"""

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--remote-debugging-pipe",
]
LOCAL_SCHEMES = ("file:", "data:", "about:")


class Chromium:
    def __init__(self, timeout=60):
        self.timeout = timeout
        # Chromium may still write to its profile while it exits: cleaning up must not fail the test.
        self.profile = tempfile.TemporaryDirectory(prefix="mribench-chromium-", ignore_cleanup_errors=True)
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # Above 10 so that bash's 3<& and 4>& redirections cannot overwrite each other.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{high_r} 4>&{high_w}', "bash", CHROMIUM, *FLAGS,
             f"--user-data-dir={self.profile.name}", "about:blank"],
            pass_fds=(high_r, high_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(high_r)
        os.close(high_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self.to_browser)
        os.close(self.from_browser)
        self.profile.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, method, session=None, **params):
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self.receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method} failed: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def receive(self, deadline):
        while b"\0" not in self.buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.process.poll()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method, deadline):
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self.receive(deadline))

    def check_page(self, url, screenshot=None, width=1366, height=900):
        """Open `url`; return console errors, images that did not load and non-local requests."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.events.clear()
        self.send("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", time.monotonic() + self.timeout)
        broken_images = self.send(
            "Runtime.evaluate",
            session,
            expression="Array.from(document.images)"
            ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt || i.src.slice(0, 80))",
            returnByValue=True,
        )["result"]["value"]
        if screenshot:
            shot = self.send("Page.captureScreenshot", session, format="png")
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        title = self.send("Runtime.evaluate", session, expression="document.title", returnByValue=True)
        return {
            "title": title["result"]["value"],
            "console_errors": console_errors(self.events),
            "broken_images": broken_images,
            "remote_requests": [
                e["params"]["request"]["url"]
                for e in self.events
                if e.get("method") == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith(LOCAL_SCHEMES)
            ],
        }


def console_errors(events):
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
    return errors
