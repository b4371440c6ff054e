// Post-processing: model probability map -> ellipse in original pixels -> HC in mm.
// A port of hc_tf/ellipse.py `measure` (the definition): same steps, same order of
// floating-point operations where it matters, same rejection reasons. See README "Contract".

import { toOriginal, resizedSize } from './preprocess.js';
import { qualitySignals } from './quality.js';
import { fmt1, fmtG } from './pyformat.js';

const PI = Math.PI;
export const MIN_SEMI_AXIS_MODEL_PX = 2.0;
export const MAX_ASPECT = 5.0;
export const MAX_AXIS_IMAGE_RATIO = 2.0;
export const MIN_BOUNDARY_POINTS = 20;
export const OUTLIER_ROUNDS = 2;
export const OUTLIER_MADS = 3.0;
const PROB_SLACK = 0.01;

// ---------------------------------------------------------------- small helpers

/** Python's float `%` by a positive divisor (fmod, then shifted into [0, d)). */
function pyMod(x, d) {
  const r = x % d;
  return (r !== 0 && r < 0) ? r + d : (r === 0 ? 0 : r);
}

export function wrapPi(angle) {
  const r = pyMod(angle, PI);
  return r >= PI ? 0.0 : r;
}

/** Ellipse.normalized(): a >= b, angle in [0, pi). */
export function normalized(e) {
  let { a, b, angle } = e;
  if (b > a) { [a, b] = [b, a]; angle = angle + PI / 2; }
  return { cx: e.cx, cy: e.cy, a, b, angle: wrapPi(angle) };
}

export function ramanujanPerimeter(a, b) {
  const h = a + b > 0 ? ((a - b) / (a + b)) ** 2 : 0.0;
  return PI * (a + b) * (1.0 + 3.0 * h / (10.0 + Math.sqrt(4.0 - 3.0 * h)));
}

function median(values) {
  const v = Float64Array.from(values).sort();
  const n = v.length, m = n >> 1;
  return n % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Solves A x = b (A n x n, row-major arrays of arrays) by LU with partial pivoting; null if singular. */
export function solve(A, b) {
  const n = A.length;
  const M = A.map((row) => Float64Array.from(row));
  const B = b.map((row) => (Array.isArray(row) || ArrayBuffer.isView(row)) ? Float64Array.from(row) : Float64Array.of(row));
  for (let k = 0; k < n; k++) {
    let p = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(M[i][k]) > Math.abs(M[p][k])) p = i;
    if (M[p][k] === 0 || !Number.isFinite(M[p][k])) return null;
    if (p !== k) { [M[p], M[k]] = [M[k], M[p]]; [B[p], B[k]] = [B[k], B[p]]; }
    for (let i = k + 1; i < n; i++) {
      const f = M[i][k] / M[k][k];
      if (f === 0) continue;
      for (let j = k; j < n; j++) M[i][j] -= f * M[k][j];
      for (let j = 0; j < B[i].length; j++) B[i][j] -= f * B[k][j];
    }
  }
  for (let k = n - 1; k >= 0; k--) {
    for (let j = 0; j < B[k].length; j++) {
      let s = B[k][j];
      for (let i = k + 1; i < n; i++) s -= M[k][i] * B[i][j];
      B[k][j] = s / M[k][k];
    }
  }
  return B;
}

// ---------------------------------------------------------------- ellipse fit

/** Real eigenpairs of a real 3x3 matrix: [{value, vector(unit)}]. */
function eig3(m) {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  // characteristic polynomial l^3 + p2 l^2 + p1 l + p0
  const p2 = -(a + e + i);
  const p1 = a * e - b * d + a * i - c * g + e * i - f * h;
  const p0 = -(a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g));
  const roots = cubicRealRoots(p2, p1, p0).map((l) => {
    for (let k = 0; k < 3; k++) { // Newton polish
      const fv = ((l + p2) * l + p1) * l + p0;
      const df = (3 * l + 2 * p2) * l + p1;
      if (df === 0) break;
      const nl = l - fv / df;
      if (!Number.isFinite(nl)) break;
      l = nl;
    }
    return l;
  });
  return roots.map((l) => {
    const r0 = [a - l, b, c], r1 = [d, e - l, f], r2 = [g, h, i - l];
    const cands = [cross(r0, r1), cross(r0, r2), cross(r1, r2)];
    let best = cands[0], bn = norm3(best);
    for (const v of cands.slice(1)) { const nv = norm3(v); if (nv > bn) { best = v; bn = nv; } }
    const vec = bn > 0 ? best.map((x) => x / bn) : [0, 0, 0];
    return { value: l, vector: vec };
  });
}
const cross = (u, v) => [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
const norm3 = (v) => Math.hypot(v[0], v[1], v[2]);

function cubicRealRoots(p2, p1, p0) {
  // depressed cubic x = t - p2/3: t^3 + P t + Q
  const s = p2 / 3;
  const P = p1 - p2 * p2 / 3;
  const Q = 2 * s * s * s - s * p1 + p0;
  const disc = (Q / 2) ** 2 + (P / 3) ** 3;
  if (P < 0 && disc <= 0) {
    const r = 2 * Math.sqrt(-P / 3);
    const arg = Math.max(-1, Math.min(1, (3 * Q) / (P * r)));
    const phi = Math.acos(arg) / 3;
    return [0, 1, 2].map((k) => r * Math.cos(phi - (2 * PI * k) / 3) - s);
  }
  const sq = Math.sqrt(Math.max(disc, 0));
  return [Math.cbrt(-Q / 2 + sq) + Math.cbrt(-Q / 2 - sq) - s];
}

/** hc_tf.ellipse.fit_ellipse: direct least squares (Fitzgibbon / Halir-Flusser), normalized points. */
export function fitEllipse(xs, ys) {
  const n = xs.length;
  if (n < 5) return null;
  let mx = 0, my = 0;
  for (let k = 0; k < n; k++) {
    if (!Number.isFinite(xs[k]) || !Number.isFinite(ys[k])) return null;
    mx += xs[k]; my += ys[k];
  }
  mx /= n; my /= n;
  let ss = 0;
  for (let k = 0; k < n; k++) ss += (xs[k] - mx) ** 2 + (ys[k] - my) ** 2;
  const scale = Math.sqrt(ss / n);
  if (scale <= 1e-12) return null;
  const s1 = [[0, 0, 0], [0, 0, 0], [0, 0, 0]], s2 = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  const s3 = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let k = 0; k < n; k++) {
    const x = (xs[k] - mx) / scale, y = (ys[k] - my) / scale;
    const d1 = [x * x, x * y, y * y], d2 = [x, y, 1];
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        s1[r][c] += d1[r] * d1[c]; s2[r][c] += d1[r] * d2[c]; s3[r][c] += d2[r] * d2[c];
      }
    }
  }
  const s2T = [0, 1, 2].map((r) => [0, 1, 2].map((c) => s2[c][r]));
  const sol = solve(s3, s2T);
  if (!sol) return null;
  const t = sol.map((row) => Array.from(row, (v) => -v));
  const m = [0, 1, 2].map((r) => [0, 1, 2].map((c) => s1[r][c] + s2[r][0] * t[0][c] + s2[r][1] * t[1][c] + s2[r][2] * t[2][c]));
  const mm = [m[2].map((v) => v / 2), m[1].map((v) => -v), m[0].map((v) => v / 2)];
  let best = null;
  for (const { value, vector: v } of eig3(mm)) {
    const cond = 4 * v[0] * v[2] - v[1] * v[1];
    if (cond > 0 && (best === null || Math.abs(value) < Math.abs(best.value))) best = { value, v };
  }
  if (!best) return null;
  const a1 = best.v;
  const conic = [a1[0], a1[1], a1[2],
    t[0][0] * a1[0] + t[0][1] * a1[1] + t[0][2] * a1[2],
    t[1][0] * a1[0] + t[1][1] * a1[1] + t[1][2] * a1[2],
    t[2][0] * a1[0] + t[2][1] * a1[1] + t[2][2] * a1[2]];
  return conicToEllipse(conic, mx, my, scale);
}

function conicToEllipse([A, B, C, D, E, F], mx, my, scale) {
  const q01 = B / 2;
  const det = A * C - q01 * q01;
  if (!Number.isFinite(det) || det <= 0) return null;
  const cen = solve([[A, q01], [q01, C]], [-0.5 * D, -0.5 * E]);
  if (!cen) return null;
  const cx = cen[0][0], cy = cen[1][0];
  const f0 = F + 0.5 * (D * cx + E * cy);
  // eigh of the symmetric 2x2 [[A, q01], [q01, C]]: ascending eigenvalues
  const mean = (A + C) / 2, rad = Math.hypot((A - C) / 2, q01);
  const l0 = mean - rad, l1 = mean + rad;
  const ax0 = Math.sqrt(-f0 / l0), ax1 = Math.sqrt(-f0 / l1);
  if (!Number.isFinite(ax0) || !Number.isFinite(ax1) || ax0 <= 0 || ax1 <= 0) return null;
  // eigenvector of l0: the better conditioned of (l0 - C, q01) and (q01, l0 - A)
  const v1 = [l0 - C, q01], v2 = [q01, l0 - A];
  let v = Math.hypot(...v1) >= Math.hypot(...v2) ? v1 : v2;
  if (v[0] === 0 && v[1] === 0) v = [1, 0];
  const angle = Math.atan2(v[1], v[0]);
  return normalized({ cx: cx * scale + mx, cy: cy * scale + my, a: ax0 * scale, b: ax1 * scale, angle });
}

/** hc_tf.ellipse.ellipse_distance: first-order (Sampson-like) distance |f| / |grad f|. */
export function ellipseDistance(e, xs, ys) {
  const c = Math.cos(e.angle), s = Math.sin(e.angle);
  const d = new Float64Array(xs.length);
  for (let k = 0; k < xs.length; k++) {
    const dx = xs[k] - e.cx, dy = ys[k] - e.cy;
    const u = (dx * c + dy * s) / e.a, v = (-dx * s + dy * c) / e.b;
    const f = u * u + v * v - 1.0;
    const grad = 2.0 * Math.sqrt((u / e.a) ** 2 + (v / e.b) ** 2);
    d[k] = Math.abs(f) / Math.max(grad, 1e-12);
  }
  return d;
}

/** hc_tf.ellipse.robust_fit_ellipse. `trace` (optional array) receives each round's margins. */
export function robustFitEllipse(xs, ys, floorPx = 1.0, rounds = OUTLIER_ROUNDS, trace = null) {
  let px = Float64Array.from(xs), py = Float64Array.from(ys);
  let e = fitEllipse(px, py);
  for (let r = 0; r < rounds; r++) {
    if (e === null) return null;
    const d = ellipseDistance(e, px, py);
    const med = median(d);
    const mad = median(d.map((v) => Math.abs(v - med)));
    const limit = med + Math.max(OUTLIER_MADS * 1.4826 * mad, floorPx);
    let kept = 0;
    for (let k = 0; k < d.length; k++) if (d[k] <= limit) kept++;
    if (trace) trace.push({ n: d.length, kept, limit });
    if (kept === d.length || kept < Math.max(5, Math.floor(d.length / 2))) break;
    const nx = new Float64Array(kept), ny = new Float64Array(kept);
    for (let k = 0, j = 0; k < d.length; k++) if (d[k] <= limit) { nx[j] = px[k]; ny[j++] = py[k]; }
    px = nx; py = ny;
    e = fitEllipse(px, py) ?? e;
  }
  return e !== null ? refineEllipse(e, px, py) : null;
}

function footParameters(e, u, v, t, steps) {
  const { a, b } = e;
  for (let s = 0; s < steps; s++) {
    for (let k = 0; k < t.length; k++) {
      const ct = Math.cos(t[k]), st = Math.sin(t[k]);
      const ex = u[k] - a * ct, ey = v[k] - b * st;
      const g = ex * a * st - ey * b * ct;
      const h = (a * st) ** 2 + (b * ct) ** 2 + ex * a * ct + ey * b * st;
      t[k] = t[k] - Math.min(Math.max(g / Math.max(h, 1e-12), -0.5), 0.5);
    }
  }
  return t;
}

function geometricResiduals(e, xs, ys, t0, steps = 1) {
  const c = Math.cos(e.angle), s = Math.sin(e.angle);
  const n = xs.length;
  const u = new Float64Array(n), v = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const dx = xs[k] - e.cx, dy = ys[k] - e.cy;
    u[k] = dx * c + dy * s; v[k] = -dx * s + dy * c;
  }
  const t = footParameters(e, u, v, Float64Array.from(t0), steps);
  const r = new Float64Array(n);
  const jac = new Float64Array(n * 5);
  for (let k = 0; k < n; k++) {
    const ct = Math.cos(t[k]), st = Math.sin(t[k]);
    let nu = e.b * ct, nv = e.a * st;
    const norm = Math.max(Math.hypot(nu, nv), 1e-12);
    nu /= norm; nv /= norm;
    r[k] = (u[k] - e.a * ct) * nu + (v[k] - e.b * st) * nv;
    const nx = nu * c - nv * s, ny = nu * s + nv * c;
    const j = k * 5;
    jac[j] = -nx; jac[j + 1] = -ny; jac[j + 2] = -(ct * nu); jac[j + 3] = -(st * nv);
    jac[j + 4] = -(-e.b * st * nu + e.a * ct * nv);
  }
  return { r, jac, t };
}

const dot = (a, b) => { let s = 0; for (let k = 0; k < a.length; k++) s += a[k] * b[k]; return s; };

/** hc_tf.ellipse.refine_ellipse: Levenberg-Marquardt on orthogonal distances. */
export function refineEllipse(ellipse, xs, ys, iterations = 8) {
  let e = ellipse;
  const n = xs.length;
  if (n < 5 || e.b <= 0) return e;
  const c = Math.cos(e.angle), s = Math.sin(e.angle);
  const t0 = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const dx = xs[k] - e.cx, dy = ys[k] - e.cy;
    t0[k] = Math.atan2((-dx * s + dy * c) / e.b, (dx * c + dy * s) / e.a);
  }
  let { r, jac, t } = geometricResiduals(e, xs, ys, t0, 3);
  let cost = dot(r, r), lam = 1e-3;
  for (let it = 0; it < iterations; it++) {
    const jtj = [0, 1, 2, 3, 4].map(() => new Float64Array(5));
    const jtr = new Float64Array(5);
    for (let k = 0; k < n; k++) {
      const j = k * 5;
      for (let p = 0; p < 5; p++) {
        jtr[p] += jac[j + p] * r[k];
        for (let q = 0; q < 5; q++) jtj[p][q] += jac[j + p] * jac[j + q];
      }
    }
    const Am = jtj.map((row, p) => row.map((v, q) => v + (p === q ? lam * (jtj[p][p] + 1e-9) : 0)));
    const sol = solve(Am, Array.from(jtr, (v) => -v));
    if (!sol) break;
    const delta = sol.map((row) => row[0]);
    const cand = { cx: e.cx + delta[0], cy: e.cy + delta[1], a: e.a + delta[2], b: e.b + delta[3], angle: e.angle + delta[4] };
    if (!(cand.a > 0 && cand.b > 0 && delta.every(Number.isFinite))) { lam *= 10.0; continue; }
    const res = geometricResiduals(cand, xs, ys, t);
    const cost2 = dot(res.r, res.r);
    if (cost2 < cost) {
      e = cand; r = res.r; jac = res.jac; t = res.t; lam = lam * 0.3;
      if (cost - cost2 < 1e-6 * cost) break;
      cost = cost2;
    } else {
      lam *= 10.0;
    }
  }
  return normalized(e);
}

// ---------------------------------------------------------------- mask steps

/**
 * cv2.connectedComponentsWithStats(fg, connectivity=8) reduced to the largest component.
 * Ties on area go to the component cv2 labels first: the one whose first 2x2 block
 * (block row floor(y/2), block column floor(x/2), raster order) comes first.
 */
export function largestComponent(fg, H, W) {
  const labels = new Int32Array(H * W);
  const comps = [];
  const stack = new Int32Array(H * W);
  for (let y0 = 0; y0 < H; y0++) {
    for (let x0 = 0; x0 < W; x0++) {
      const i0 = y0 * W + x0;
      if (!fg[i0] || labels[i0]) continue;
      const id = comps.length + 1;
      const c = { id, area: 0, left: x0, top: y0, right: x0, bottom: y0, key: Infinity };
      let sp = 0;
      stack[sp++] = i0; labels[i0] = id;
      while (sp) {
        const i = stack[--sp];
        const y = (i / W) | 0, x = i - y * W;
        c.area++;
        if (x < c.left) c.left = x; if (x > c.right) c.right = x;
        if (y < c.top) c.top = y; if (y > c.bottom) c.bottom = y;
        const key = (y >> 1) * W + (x >> 1);
        if (key < c.key) c.key = key;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= W) continue;
            const j = yy * W + xx;
            if (fg[j] && !labels[j]) { labels[j] = id; stack[sp++] = j; }
          }
        }
      }
      comps.push(c);
    }
  }
  if (!comps.length) return { mask: new Uint8Array(H * W), area: 0 };
  let best = comps[0];
  for (const c of comps) if (c.area > best.area || (c.area === best.area && c.key < best.key)) best = c;
  const mask = new Uint8Array(H * W);
  for (let i = 0; i < H * W; i++) if (labels[i] === best.id) mask[i] = 1;
  return { mask, area: best.area, left: best.left, top: best.top, width: best.right - best.left + 1, height: best.bottom - best.top + 1 };
}

/** _fill_holes: background not 4-connected to a ring around the array becomes foreground. */
export function fillHoles(comp, h, w) {
  const H = h + 2, W = w + 2;
  const outside = new Uint8Array(H * W);
  const isBg = (y, x) => y === 0 || x === 0 || y === H - 1 || x === W - 1 || !comp[(y - 1) * w + (x - 1)];
  const stack = [0];
  outside[0] = 1;
  while (stack.length) {
    const i = stack.pop();
    const y = (i / W) | 0, x = i - y * W;
    const nb = [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]];
    for (const [yy, xx] of nb) {
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
      const j = yy * W + xx;
      if (!outside[j] && isBg(yy, xx)) { outside[j] = 1; stack.push(j); }
    }
  }
  const out = new Uint8Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = outside[(y + 1) * W + (x + 1)] ? 0 : 1;
  return out;
}

/** Python slice [start:stop] of a length-n axis -> [lo, hi) (negative stop counts from the end). */
function pySlice(start, stop, n) {
  const norm = (v) => (v < 0 ? Math.max(v + n, 0) : Math.min(v, n));
  const lo = norm(start), hi = norm(stop);
  return [lo, Math.max(hi, lo)];
}

/**
 * hc_tf.ellipse.boundary_points on a sub-array: the threshold iso-contour crossings of
 * edges between horizontal neighbours (row-major), then vertical neighbours (row-major).
 * prob, inside: h x w arrays; rect (x0, y0, x1, y1) inclusive as Python slices it.
 * Returns [xs, ys] before any offset beyond rect's own (x0, y0).
 */
function boundaryPoints(prob, inside, h, w, threshold, rect) {
  const [x0, y0, x1, y1] = rect;
  // Python clamps the window's end at 0: a region wholly right of or below the image area
  // has no outline inside it.
  const [ylo, yhi] = pySlice(y0, Math.max(y1 + 1, 0), h);
  const [xlo, xhi] = pySlice(x0, Math.max(x1 + 1, 0), w);
  const xs = [], ys = [];
  const cross = (ia, ib, pa, pb) => {
    const firstInside = inside[ia] !== 0;
    const pIn = firstInside ? prob[ia] : prob[ib];
    const pOut = firstInside ? prob[ib] : prob[ia];
    const denom = pIn - pOut;
    let frac = denom > 1e-6 ? (pIn - threshold) / denom : 0.5;
    frac = Math.min(Math.max(frac, 0.0), 1.0);
    return firstInside ? frac : 1.0 - frac;
  };
  for (let y = ylo; y < yhi; y++) {
    for (let x = xlo; x + 1 < xhi; x++) {
      const ia = y * w + x, ib = ia + 1;
      if (inside[ia] !== inside[ib]) { xs.push(((x - xlo) + cross(ia, ib)) + x0); ys.push((y - ylo) + y0); }
    }
  }
  for (let y = ylo; y + 1 < yhi; y++) {
    for (let x = xlo; x < xhi; x++) {
      const ia = y * w + x, ib = ia + w;
      if (inside[ia] !== inside[ib]) { xs.push((x - xlo) + x0); ys.push(((y - ylo) + cross(ia, ib)) + y0); }
    }
  }
  return [xs, ys];
}

function validRect(box, H, W) {
  if (!box) return [0, 0, W - 1, H - 1];
  if (box.dst_height !== H || box.dst_width !== W) {
    throw new Error(`prob is ${H}x${W} but the letterbox maps a ${box.dst_height}x${box.dst_width} model input`);
  }
  const x0 = Math.trunc(box.offset_x), y0 = Math.trunc(box.offset_y);
  const [nw, nh] = resizedSize(box);
  return [x0, y0, Math.min(W - 1, x0 + nw - 1), Math.min(H - 1, y0 + nh - 1)];
}

export function checkPixelSize(v) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`pixel size must be a finite number > 0 mm, got ${String(v)}`);
  }
  return v;
}

function notFound(reason, px) { return { found: false, reason, ellipse: null, pixel_size_mm: px, hc_mm: null, quality: null }; }

/**
 * hc_tf.ellipse.measure for a float probability map (Float32Array, H*W, row-major),
 * e.g. the int8 model's q / 256.
 * @returns {{found, reason, ellipse, pixel_size_mm, hc_mm, quality, points?}} (quality: hc_tf.measure.quality's signals, null when not found)
 */
export function measure(prob, H, W, box, pixelSizeMm, { threshold = 0.5, minAreaPx = 50, trace = null } = {}) {
  const px = checkPixelSize(pixelSizeMm);
  if (prob.length !== H * W) throw new Error(`prob has ${prob.length} values, expected ${H}x${W}`);
  if (Math.min(H, W) < 3) throw new Error(`prob must be at least 3x3 pixels, got shape (${H}, ${W})`);
  if (!(threshold > 0 && threshold < 1)) throw new Error(`threshold must be in (0, 1), got ${threshold}`);
  const rect = validRect(box, H, W);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < prob.length; i++) { const v = prob[i]; if (v < lo) lo = v; if (v > hi) hi = v; if (Number.isNaN(v)) { lo = NaN; break; } }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return notFound('probability map contains NaN or infinite values', px);
  if (lo < -PROB_SLACK || hi > 1.0 + PROB_SLACK) {
    return notFound(`probabilities out of range [${fmtG(lo, 3)}, ${fmtG(hi, 3)}]: expected 0..1 (a 0..255-scaled map must be passed as uint8)`, px);
  }
  const p = new Float32Array(H * W); // a plain loop: TypedArray.from with a map function is ~10x slower
  for (let i = 0; i < p.length; i++) p[i] = Math.min(Math.max(prob[i], 0), 1);
  const fg = new Uint8Array(H * W);
  for (let i = 0; i < H * W; i++) fg[i] = p[i] > threshold ? 1 : 0;
  const comp = largestComponent(fg, H, W);
  if (comp.area === 0) return notFound(`empty mask: no pixel above ${fmtG(threshold)}`, px);
  if (comp.area < Math.max(minAreaPx, 1)) return notFound(`largest region is a speck (${comp.area} px < ${minAreaPx} px)`, px);
  const { left, top } = comp;
  const right = left + comp.width - 1, bottom = top + comp.height - 1;
  if (left <= rect[0] && top <= rect[1] && right >= rect[2] && bottom >= rect[3]) {
    return notFound('mask covers the whole image: no head outline', px);
  }
  const yLo = Math.max(top - 1, 0), xLo = Math.max(left - 1, 0);
  const yHi = Math.min(bottom + 2, H), xHi = Math.min(right + 2, W);
  const ch = yHi - yLo, cw = xHi - xLo;
  const pc = new Float32Array(ch * cw), mc = new Uint8Array(ch * cw);
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      pc[y * cw + x] = p[(y + yLo) * W + x + xLo];
      mc[y * cw + x] = comp.mask[(y + yLo) * W + x + xLo];
    }
  }
  const inside = fillHoles(mc, ch, cw);
  const cropRect = [Math.max(rect[0] - xLo, 0), Math.max(rect[1] - yLo, 0), rect[2] - xLo, rect[3] - yLo];
  let [xs, ys] = boundaryPoints(pc, inside, ch, cw, threshold, cropRect);
  xs = xs.map((v) => v + xLo); ys = ys.map((v) => v + yLo);
  if (xs.length < MIN_BOUNDARY_POINTS) return notFound(`head outline inside the image too short (${xs.length} points)`, px);
  let modelPx = 1.0;
  if (box) {
    for (let k = 0; k < xs.length; k++) [xs[k], ys[k]] = toOriginal(box, xs[k], ys[k]);
    modelPx = 1.0 / Math.min(box.scale_x, box.scale_y);
  }
  const e = robustFitEllipse(xs, ys, modelPx, OUTLIER_ROUNDS, trace);
  const m = checked(e, modelPx, box, H, W, px);
  m.points = { xs, ys };
  if (!m.found) return m;
  const head = new Uint8Array(H * W);
  for (let y = 0; y < ch; y++) head.set(inside.subarray(y * cw, (y + 1) * cw), (y + yLo) * W + xLo);
  m.quality = qualitySignals({
    prob: p, head, H, W, distances: ellipseDistance(e, xs, ys), ellipse: e, box, rect, modelPx,
    imageHW: box ? [box.src_height, box.src_width] : [H, W], hcMm: m.hc_mm,
  });
  return m;
}

function checked(e, modelPx, box, H, W, px) {
  if (e === null || ![e.cx, e.cy, e.a, e.b, e.angle].every(Number.isFinite)) {
    return notFound('the outline does not fit an ellipse', px);
  }
  if (e.b < MIN_SEMI_AXIS_MODEL_PX * modelPx) {
    return notFound(`region is a line, not a head (minor semi-axis ${fmt1(e.b / modelPx)} model px)`, px);
  }
  if (e.a > MAX_ASPECT * e.b) return notFound(`region is too elongated for a head (${fmt1(e.a / e.b)}:1)`, px);
  const size = box ? Math.max(box.src_width, box.src_height) : Math.max(H, W);
  if (e.a > MAX_AXIS_IMAGE_RATIO * size) {
    return notFound('ellipse fit ran away (a partial outline far larger than the image)', px);
  }
  return { found: true, reason: '', ellipse: e, pixel_size_mm: px, hc_mm: ramanujanPerimeter(e.a, e.b) * px };
}

/** Dequantizes the model's uint8 output: p = (q - zeroPoint) * scale, in float32 (as hc_tf.edge). */
export function dequantize(q, scale, zeroPoint) {
  const out = new Float32Array(q.length);
  const s = Math.fround(scale);
  for (let i = 0; i < q.length; i++) out[i] = Math.fround(Math.fround(q[i] - zeroPoint) * s);
  return out;
}
