"""Does the flip-TTA graph leave LiteRT.js's fast path?

Cuts the released int8 model into a batch-1 body (image -> logits, no flip, no concat) and
its TTA tail (ADD, MUL, LOGISTIC, QUANTIZE on the two halves), checks natively that
body(image), body(flipped image) flipped back, then tail, gives the released model's output
bit for bit on the bundled samples, and times in headless Chromium (LiteRT.js, the built
web_app/dist): the released model, the batch-1 body, the tail, and the split path.

If a batch-2 op left the fast path, the released model would cost more than two bodies
plus the tail. Needs TensorFlow (flatbuffer_utils), ai-edge-litert, playwright, chromium.

    python -m benchmarks.web_tta_split [--n 15]
"""

import argparse
import copy
import functools
import http.server
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUNDLE = os.path.join(REPO, "android_demo_assets")
MODEL = os.path.join(BUNDLE, "hc_effunet_int8.tflite")
UINT8 = 3  # tflite TensorType; LiteRT.js has no int8 tensors, so the cut ends are uint8
QUANTIZE, MUL, CONCATENATION = 114, 18, 2


def _prune(model, keep_ops, inputs, outputs):
    """Keeps `keep_ops` (in order) and only the tensors, buffers and op codes they use."""
    g = model.subgraphs[0]
    g.operators = [g.operators[i] for i in keep_ops]
    used = sorted({int(t) for op in g.operators for t in [*op.inputs, *op.outputs] if t >= 0})
    tmap = {old: new for new, old in enumerate(used)}
    g.tensors = [g.tensors[t] for t in used]
    for op in g.operators:
        op.inputs = np.array([tmap[int(t)] if t >= 0 else -1 for t in op.inputs], np.int32)
        op.outputs = np.array([tmap[int(t)] for t in op.outputs], np.int32)
    g.inputs = np.array([tmap[t] for t in inputs], np.int32)
    g.outputs = np.array([tmap[t] for t in outputs], np.int32)
    bufs = sorted({0} | {int(t.buffer) for t in g.tensors})
    bmap = {old: new for new, old in enumerate(bufs)}
    model.buffers = [model.buffers[b] for b in bufs]
    for t in g.tensors:
        t.buffer = bmap[int(t.buffer)]
    model.metadata = [m for m in (model.metadata or []) if m.buffer in bmap]
    for m in model.metadata:
        m.buffer = bmap[m.buffer]
    codes = sorted({op.opcodeIndex for op in g.operators})
    cmap = {old: new for new, old in enumerate(codes)}
    model.operatorCodes = [model.operatorCodes[c] for c in codes]
    for op in g.operators:
        op.opcodeIndex = cmap[op.opcodeIndex]
    model.signatureDefs = []
    return model


def _uint8_twin(g, like, name):
    """A uint8 tensor with `like`'s scale and zero point + 128 (a QUANTIZE between them is exact)."""
    t = copy.deepcopy(g.tensors[like])
    t.type, t.buffer, t.name = UINT8, 0, name.encode()
    t.quantization.zeroPoint = np.array([int(t.quantization.zeroPoint[0]) + 128], np.int64)
    g.tensors.append(t)
    return len(g.tensors) - 1


def _quantize(g, src, dst, template):
    op = copy.deepcopy(template)
    op.inputs, op.outputs = np.array([src], np.int32), np.array([dst], np.int32)
    g.operators.append(op)
    return len(g.operators) - 1


def split_model(path):
    """(body, tail) flatbuffers of the released flip-TTA model (layout checked, not assumed)."""
    from tensorflow.lite.tools import flatbuffer_utils as fu
    m = fu.read_model(path)
    ops = m.subgraphs[0].operators
    code = lambda op: m.operatorCodes[op.opcodeIndex].builtinCode  # noqa: E731
    concat = next(i for i, op in enumerate(ops) if code(op) == CONCATENATION)
    q_in = ops[0].outputs[0]
    assert code(ops[0]) == QUANTIZE and q_in in ops[concat].inputs and code(ops[concat + 1]) == MUL
    # The tail: the last four ops (ADD, MUL, LOGISTIC, QUANTIZE) after STRIDED_SLICE x2, REVERSE.
    first_tail = len(ops) - 4
    slice0, reverse = ops[first_tail - 3], ops[first_tail - 1]
    logits = slice0.inputs[0]

    body = copy.deepcopy(m)
    g = body.subgraphs[0]
    g.operators[concat + 1].inputs[0] = q_in  # the MUL reads the image itself: batch 1, no flip
    for op in g.operators[:first_tail - 3]:
        for t in [*op.inputs, *op.outputs]:
            shape = g.tensors[t].shape if t >= 0 else None
            if shape is not None and len(shape) == 4 and shape[0] == 2:
                g.tensors[t].shape = np.array([1, *shape[1:]], np.int32)
                if g.tensors[t].shapeSignature is not None and len(g.tensors[t].shapeSignature):
                    g.tensors[t].shapeSignature = np.array([1, *shape[1:]], np.int32)
    out = _uint8_twin(g, logits, "logits_uint8")
    last = _quantize(g, logits, out, g.operators[0])
    body = _prune(body, [0, *range(concat + 1, first_tail - 3), last], [0], [out])

    tail = copy.deepcopy(m)
    g = tail.subgraphs[0]
    ins, pre = [], []
    for t in (slice0.outputs[0], reverse.outputs[0]):  # the reverse's own quantization, as the graph reads it
        ins.append(_uint8_twin(g, t, f"in_{len(ins)}"))
        pre.append(_quantize(g, ins[-1], t, g.operators[0]))
    tail = _prune(tail, [*pre, *range(first_tail, len(ops))], ins, [int(g.outputs[0])])
    return fu.convert_object_to_bytearray(body), fu.convert_object_to_bytearray(tail)


def check_native(body_path, tail_path):
    """Released model == split path, bit for bit, on every bundled sample (native LiteRT)."""
    from ai_edge_litert.interpreter import Interpreter
    from hc_tf import preprocess

    def make(p):
        it = Interpreter(p, num_threads=2)
        it.allocate_tensors()
        return it

    def run(it, *xs):
        for d, x in zip(it.get_input_details(), xs):
            it.set_tensor(d["index"], x)
        it.invoke()
        return it.get_tensor(it.get_output_details()[0]["index"])

    full, body, tail = make(MODEL), make(body_path), make(tail_path)
    golden = json.load(open(os.path.join(BUNDLE, "golden.json")))
    for s in golden["samples"]:
        x = preprocess.letterbox_image(preprocess.read_gray_image(os.path.join(BUNDLE, "samples", s["filename"])))[0][None]
        split = run(tail, run(body, x), run(body, x[:, :, ::-1].copy())[:, :, ::-1].copy())
        same = np.array_equal(run(full, x), split)
        print(f"{s['filename']}: split path {'==' if same else '!='} released model (native)")
        if not same:
            return False
    timed = {}
    for name, f in (("released", lambda: run(full, x)), ("body", lambda: run(body, x))):
        ts = []
        for _ in range(15):
            t = time.perf_counter()
            f()
            ts.append((time.perf_counter() - t) * 1e3)
        timed[f"native_{name}_ms"] = statistics.median(ts)
    print(json.dumps(timed))
    return True


BROWSER_JS = """async ([n, body, tail]) => {
  const { loadAndCompile, Tensor } = await import('./vendor/litertjs-core/index.js');
  const m = hcApp.model, H = m.H, W = m.W, opts = { accelerator: 'wasm', cpuOptions: { numThreads: m.numThreads } };
  const get = async (u) => new Uint8Array(await (await fetch(u)).arrayBuffer());
  const b = await loadAndCompile(await get(body), opts), t = await loadAndCompile(await get(tail), opts);
  const x = new Uint8Array(H * W); for (let i = 0; i < x.length; i++) x[i] = (i * 7919) % 251;
  const flip = (a) => { const o = new Uint8Array(a.length); for (let y = 0; y < H; y++) for (let c = 0; c < W; c++) o[y * W + c] = a[y * W + W - 1 - c]; return o; };
  const run = async (model, ...arrs) => { const ts = arrs.map((a) => new Tensor(a, [1, H, W, 1]));
    const outs = await model.run(ts.length === 1 ? ts[0] : ts); const r = new Uint8Array(outs[0].toTypedArray());
    ts.forEach((q) => q.delete()); outs.forEach((o) => o.delete()); return r; };
  const split = async (a) => run(t, await run(b, a), flip(await run(b, flip(a))));
  const ref = await run(m.model, x), mine = await split(x);
  const same = ref.every((v, i) => v === mine[i]);
  const l = await run(b, x), lf = flip(await run(b, flip(x)));
  const med = (v) => v.sort((p, q) => p - q)[v.length >> 1];
  const time = async (f) => { const ts = []; for (let i = 0; i < n; i++) { const t0 = performance.now(); await f(); ts.push(performance.now() - t0); } return med(ts); };
  return { threads: m.numThreads, split_equals_released: same, released_ms: await time(() => run(m.model, x)),
    body_ms: await time(() => run(b, x)), tail_ms: await time(() => run(t, l, lf)), split_ms: await time(() => split(x)) };
}"""


def time_browser(body, tail, n):
    from tests.web_app_test import CHROMIUM, CHROMIUM_ARGS, DIST, _Handler, _wait_ready
    from playwright.sync_api import sync_playwright
    exp = os.path.join(DIST, "assets", "tta_split")
    os.makedirs(exp, exist_ok=True)
    for name, data in (("body.tflite", body), ("tail.tflite", tail)):
        with open(os.path.join(exp, name), "wb") as f:
            f.write(data)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=DIST))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            for query in ("?sw=0", "?sw=0&threads=0"):
                page = b.new_page()
                page.goto(base + query)
                _wait_ready(page)
                r = page.evaluate(BROWSER_JS, [n, "./assets/tta_split/body.tflite", "./assets/tta_split/tail.tflite"])
                print(json.dumps({"browser": query, **r}))
                page.close()
            b.close()
    finally:
        httpd.shutdown()
        shutil.rmtree(exp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=15, help="runs per figure (median)")
    args = ap.parse_args()
    if importlib.util.find_spec("tests") is None:  # the browser half uses the tests' server
        sys.exit("run it from the repository root as: python -m benchmarks.web_tta_split "
                 "(it uses the tests' fixtures, which `python benchmarks/web_tta_split.py` "
                 "cannot import)")
    body, tail = split_model(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, n) for n in ("body.tflite", "tail.tflite")]
        for path, data in zip(paths, (body, tail)):
            with open(path, "wb") as f:
                f.write(data)
        if not check_native(*paths):
            return 1
    print(f"load average {os.getloadavg()}")
    time_browser(bytes(body), bytes(tail), args.n)
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
