import math, numpy as np, cv2
from hc_tf import ellipse as E, preprocess as P

def render(ref, box, mode, sharp=0.7, ss=4):
    h, w = box.dst_height, box.dst_width
    if mode == "aa":
        offs = (np.arange(ss) + 0.5) / ss - 0.5
        acc = np.zeros((h, w))
        for oy in offs:
            for ox in offs:
                acc += _inside(ref, box, h, w, ox, oy)
        p = acc / ss**2
    else:
        sd = _signed(ref, box, h, w)
        p = 1 / (1 + np.exp(sd / sharp)) if mode == "soft" else (sd <= 0).astype(float)
    x0, y0, x1, y1 = E._valid_rect(box, (h, w))
    out = np.zeros((h, w), np.float32); out[y0:y1+1, x0:x1+1] = p[y0:y1+1, x0:x1+1]
    return out

def _uvf(ref, box, h, w, ox=0.0, oy=0.0):
    ys, xs = np.mgrid[0:h, 0:w].astype(float)
    o = box.to_original(np.stack([xs.ravel() + ox, ys.ravel() + oy], 1))
    c, s = math.cos(ref.angle), math.sin(ref.angle)
    dx, dy = o[:, 0] - ref.cx, o[:, 1] - ref.cy
    u = (dx*c + dy*s) / ref.a; v = (-dx*s + dy*c) / ref.b
    return u, v, (u*u + v*v - 1)

def _inside(ref, box, h, w, ox, oy):
    return (_uvf(ref, box, h, w, ox, oy)[2] <= 0).reshape(h, w)

def _signed(ref, box, h, w):
    u, v, f = _uvf(ref, box, h, w)
    g = 2*np.sqrt((u/ref.a)**2 + (v/ref.b)**2)
    return (f/g*box.scale_x).reshape(h, w)

rng = np.random.default_rng(0)
errs = {"hard": [], "soft": [], "aa": []}
for i in range(150):
    sh, sw = int(rng.integers(300, 700)), int(rng.integers(300, 900))
    mh, mw = [(224, 320), (256, 256), (192, 288)][i % 3]
    box = P.letterbox_transform((sh, sw), (mh, mw))
    sc = box.scale_x
    b = rng.uniform(20, 70) / sc; a = b * rng.uniform(1.0, 1.7)
    ref = E.Ellipse(rng.uniform(0, sw), rng.uniform(0, sh), a, b, rng.uniform(0, math.pi)).normalized()
    ring = ref.points(360)
    frac = np.mean((ring[:,0] >= 0) & (ring[:,0] <= sw-1) & (ring[:,1] >= 0) & (ring[:,1] <= sh-1))
    if frac < 0.75: continue
    for mode in errs:
        p = render(ref, box, mode)
        m = E.measure(p, box, 0.1)
        if not m.found: print("NF", mode, m.reason, ref, frac); continue
        errs[mode].append((abs(m.ellipse.perimeter()/ref.perimeter()-1), frac, ref.b*sc, math.hypot(m.ellipse.cx-ref.cx, m.ellipse.cy-ref.cy)*sc))
for k, v in errs.items():
    v = np.array(v); print(k, len(v), "max rel", v[:,0].max(), "p95", np.percentile(v[:,0],95), "center max model px", v[:,3].max())
    full = v[v[:,1] > 0.999]; print("  full in image:", len(full), full[:,0].max() if len(full) else None)
