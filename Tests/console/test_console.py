"""The web console in a real headless browser (Chromium from the distribution's packages, which
.ci/run installs when it is missing): a `sluice serve` process with a stream and a query made
through the SQL API, the console opened with a chart of a push query, and records put while it
is open. The page must load without errors, list the stream and the query, and its chart must
gain points as records arrive.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: JSON messages
ending in a NUL byte on fds 3 and 4), so no WebSocket client is needed."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

SLUICE = os.environ.get("SLUICE", ".build/debug/sluice")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()

        def fds():
            # Out of the way first (either end may itself be 3 or 4), then onto 3 and 4.
            a = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4, to_browser_r, from_browser_w), preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer = b""
        self.next_id = 0
        self.session = None
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def call(self, method, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.time() + 30
        while time.time() < deadline:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if answer.get("id") == self.next_id:
                    if "error" in answer:
                        raise RuntimeError(f"{method}: {answer['error']}")
                    return answer["result"]
            self.buffer += os.read(self.from_browser, 65536)
        raise TimeoutError(method)

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server():
    data = tempfile.mkdtemp(prefix="sluice-console-")
    proc = subprocess.Popen([SLUICE, "serve", "--listen", "127.0.0.1:0", "--data-dir", data + "/data"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = None
    for line in proc.stderr:
        if line.startswith("listening on http://"):
            url = line.split()[2]
            break
    assert url, "the server did not start"
    yield url, data + "/data"
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    shutil.rmtree(data, ignore_errors=True)


def sql(url, text):
    request = urllib.request.Request(url + "/v1/sql", data=text.encode(), method="POST")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def put(data, start, count):
    lines = "".join(json.dumps({"url": f"/p{i % 3}", "ms": float(i * 7 % 50), "ts": i * 1000}) + "\n" for i in range(start, start + count))
    subprocess.run([SLUICE, "stream", "put", "clicks", "--key-field", "url", "--data-dir", data],
                   input=lines, text=True, check=True, stdout=subprocess.DEVNULL)


def wait_for(predicate, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_console_shows_streams_queries_and_a_live_chart(server):
    url, data = server
    answer = sql(url, "CREATE STREAM clicks (url VARCHAR, ms DOUBLE, ts TIMESTAMP, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) "
                      "WITH (shards = 1, format = 'json'); CREATE SINK out WITH (type = 'file', path = '" + data + "/out.jsonl'); "
                      "INSERT INTO out SELECT url, ms FROM clicks")
    assert "errors" not in answer, answer
    put(data, 1, 20)
    query = urllib.parse.quote("SELECT ts, ms FROM clicks")
    browser = Browser()
    try:
        browser.call("Runtime.enable")
        browser.call("Page.navigate", url=f"{url}/?sql={query}&x=ts&y=ms&threshold=30")
        points = lambda: int(browser.evaluate("Number(document.getElementById('points') && document.getElementById('points').textContent)") or 0)
        assert wait_for(lambda: points() >= 20), browser.evaluate("document.body.innerText")
        # The tables: the stream and the query made through the SQL API.
        assert wait_for(lambda: "clicks" in (browser.evaluate("document.querySelector('#streams tbody').innerText") or ""))
        queries = wait_for(lambda: browser.evaluate("document.querySelector('#queries tbody').innerText") or "")
        assert "query 1 (INSERT INTO out)" in queries and "RUNNING" in queries, queries
        # Records put while the page is open reach the chart.
        put(data, 21, 15)
        assert wait_for(lambda: points() >= 35), points()
        assert browser.evaluate("document.getElementById('errors').textContent") == ""
    finally:
        browser.close()
