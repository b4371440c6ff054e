"""Latency of the served demo alone and under concurrent requests (p50 / p95).

    python benchmarks/demo_load.py [--requests 20] [--workers N ...]

For each --workers value, serves `hc-tf demo` in this process (committed int8
model, loopback, free port), measures one bundled sample through the `/measure`
API: `--alone` requests one after another, then `--requests` at once (one
gradio_client per request, released together). Prints one JSON line per setting.
Needs the [demo] extra. The clients' downloads (the overlays) go to a private folder, this
process's temp folder while it runs (gradio_client leaves an empty folder there per file it
fetches), removed at the end.
"""

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time

import numpy as np


from hc_tf.surfaces import demo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed_request(client, path: str, px: float) -> float:
    from gradio_client import handle_file
    t0 = time.perf_counter()
    # The API's outputs: overlay, HC, GA, centile, review, submission row, time (docs/commands.md).
    _, hc, *_ = client.predict(handle_file(path), px, "", api_name=f"/{demo.API_NAME}")
    if not hc.startswith(("HC ", "No head")):
        raise RuntimeError(f"unexpected answer: {hc}")
    return time.perf_counter() - t0


def measure(workers: int, n_requests: int, n_alone: int, downloads: str) -> dict:
    """Serves the demo with `workers` and returns its latencies in seconds; the clients
    download into `downloads`."""
    from gradio_client import Client
    path, px = demo.load_examples()[0]
    app, url = demo.serve(port=_free_port(), block=False, workers=workers)
    try:
        alone_client = Client(url, verbose=False, download_files=downloads)
        _timed_request(alone_client, path, px)  # warm-up
        alone = [_timed_request(alone_client, path, px) for _ in range(n_alone)]
        clients = [Client(url, verbose=False, download_files=downloads)
                   for _ in range(n_requests)]
        barrier = threading.Barrier(n_requests)
        loaded = [0.0] * n_requests

        def run(i):
            barrier.wait()
            loaded[i] = _timed_request(clients[i], path, px)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n_requests)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    finally:
        app.close()
    return {"workers": workers, "cpu_count": os.cpu_count(), "requests": n_requests,
            "alone_p50_s": round(float(np.median(alone)), 3),
            "loaded_p50_s": round(float(np.percentile(loaded, 50)), 3),
            "loaded_p95_s": round(float(np.percentile(loaded, 95)), 3),
            "loaded_wall_s": round(wall, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--alone", type=int, default=10)
    p.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hc-tf-demo-load-") as downloads:
        tempfile.tempdir = downloads
        try:
            for w in args.workers:
                print(json.dumps(measure(w, args.requests, args.alone, downloads)), flush=True)
        finally:
            tempfile.tempdir = None
    return 0


if __name__ == "__main__":
    sys.exit(main())
