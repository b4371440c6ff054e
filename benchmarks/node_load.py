"""`hc-tf node` under load: N instances sent at once by several storescu processes, the SRs
going to a real Orthanc; none lost, none duplicated, throughput and receive-to-SR-in-PACS
latency, with the measuring pool at 1 worker and at one per core.

    python -m benchmarks.node_load [--instances 200] [--senders 4]
        [--pools 1,0]

Needs Debian's orthanc and dcmtk. The instances are the embedded HC18 heads wrapped in DICOM
(as tests/node_pacs_test.py does), each with a new SOP Instance UID. Latency per instance is
the node's own `received_to_end_s` (C-STORE received -> the SR's C-STORE acknowledged by
Orthanc), from its one JSON line per instance. Prints the figures and the CPU model.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


try:  # the tests' fixtures: importable from the repository root, as `python -m benchmarks.X`
    from tests import dicom_files
    from tests import node_support as ns
except ModuleNotFoundError as err:
    if err.name != "tests":
        raise
    sys.exit("run it from the repository root as: python -m benchmarks.node_load "
             "(it uses the tests' fixtures, which `python benchmarks/node_load.py` cannot import)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    return next((line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name")), "unknown CPU")


def make_instances(folder: str, n: int) -> dict:
    """n wrapped heads (cycling through the embedded sample), {path: SOP Instance UID}."""
    from pydicom.uid import generate_uid
    names = sorted(f for f in os.listdir(os.path.dirname(dicom_files.head_png("000_HC.png")))
                   if f.endswith("_HC.png"))
    os.makedirs(folder, exist_ok=True)
    out = {}
    for i in range(n):
        ds = dicom_files.gray_dataset(names[i % len(names)])
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        out[dicom_files.save(ds, os.path.join(folder, f"{i:04d}.dcm"))] = str(ds.SOPInstanceUID)
    return out


def referenced(orthanc, folder):
    import pydicom
    refs = []
    for path in orthanc.srs(folder):
        ds = pydicom.dcmread(path)
        refs.append(str(ds.CurrentRequestedProcedureEvidenceSequence[0]
                        .ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
                        .ReferencedSOPInstanceUID))
    return refs


def run_once(root: str, files: dict, senders: int, workers: int) -> dict:
    orthanc = ns.Orthanc(os.path.join(root, "orthanc"), dicomweb=False).start()
    node = ns.Node(os.path.join(root, "node"), [{
        "kind": "dicom", "name": "pacs", "host": "127.0.0.1", "port": orthanc.dicom_port,
        "ae_title": "ORTHANC"}], workers=workers).start()
    paths = list(files)
    chunks = [paths[i::senders] for i in range(senders)]
    try:
        t0 = time.perf_counter()
        procs = [subprocess.Popen([ns.need("storescu", "dcmtk"), "-aet", ns.SCANNER, "-aec",
                                   ns.NODE_AE, "127.0.0.1", str(node.port)] + c,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for c in chunks]
        failed = sum(p.wait() != 0 for p in procs)
        t_sent = time.perf_counter() - t0
        ns.wait_until(f"{len(files)} SRs", lambda: orthanc.count_srs() >= len(files), 1800)
        wall = time.perf_counter() - t0
        time.sleep(1)  # a duplicate would show up here
        refs = referenced(orthanc, os.path.join(root, "pulled"))
    finally:
        node.kill(15)
        orthanc.stop()
    lines = [json.loads(line.split(" ", 2)[2]) for line in node.log_text().splitlines()
             if '"event": "done"' in line]
    lat = sorted(d["received_to_end_s"] for d in lines)
    q = statistics.quantiles(lat, n=20)
    return {"workers": workers or os.cpu_count(), "failed_senders": failed,
            "srs": len(refs), "distinct": len(set(refs)),
            "lost": len(set(files.values()) - set(refs)), "sent_s": t_sent, "wall_s": wall,
            "per_s": len(files) / wall, "p50": statistics.median(lat), "p95": q[18],
            "measure_ms": statistics.median(d["measure_ms"] for d in lines)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instances", type=int, default=200)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--pools", default="1,0", help="measuring pool sizes (0: one per core)")
    args = ap.parse_args()
    print(f"CPU: {cpu_model()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_instances(os.path.join(tmp, "in"), args.instances)
        results = []
        for i, workers in enumerate(int(w) for w in args.pools.split(",")):
            r = run_once(os.path.join(tmp, f"run{i}"), files, args.senders, workers)
            results.append(r)
            print(f"pool {r['workers']}: {args.instances} instances from {args.senders} "
                  f"storescu at once: {r['srs']} SRs in Orthanc, {r['distinct']} distinct, "
                  f"{r['lost']} lost; failed senders {r['failed_senders']}; all received in "
                  f"{r['sent_s']:.1f} s, all SRs in {r['wall_s']:.1f} s = {r['per_s']:.2f} "
                  f"instances/s; receive->SR-in-PACS p50 {r['p50']:.1f} s, p95 {r['p95']:.1f} s;"
                  f" measure median {r['measure_ms']:.0f} ms")
        if len(results) == 2:
            print(f"throughput ratio pool {results[1]['workers']} / pool {results[0]['workers']}"
                  f": {results[1]['per_s'] / results[0]['per_s']:.2f}")


if __name__ == "__main__":
    main()
