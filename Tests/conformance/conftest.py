"""The conformance suites' harness: which server they drive (TARGET=sluice, the default, or
TARGET=moto), how it is started, and the session's endpoint."""
import os, shutil, socket, subprocess, tempfile, time

import pytest

TARGET = os.environ.get("TARGET", "sluice")
SLUICE = os.environ.get("SLUICE", ".build/debug/sluice")
TOP = 2**128 - 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def launch(argv, port, cwd=None):
    """Starts a server process and waits until it accepts connections on `port`."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc


@pytest.fixture(scope="session")
def server():
    """The server of the session: its URL and, for sluice, its data directory (buckets of the
    Firehose S3 sink are directories under DATA/s3)."""
    data = tempfile.mkdtemp(prefix="sluice-conformance-")
    port = free_port()
    if TARGET == "moto":
        proc = launch(["moto_server", "-p", str(port)], port)
    else:
        proc = launch([SLUICE, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--s3-dir", os.path.join(data, "s3"),
                       "--iterator-ttl", "2"], port)
    yield {"url": f"http://127.0.0.1:{port}", "data": data}
    proc.terminate()
    assert proc.wait(timeout=10) == 0 or TARGET == "moto"
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture(scope="session")
def endpoint(server):
    return server["url"]


def moto_deviates(reason):
    return pytest.mark.skipif(TARGET == "moto" and not os.environ.get("NOSKIP"), reason="moto deviates: " + reason)


