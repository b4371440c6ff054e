// Fitting ellipses to points: a port of hc_tf/measure/fit.py (the definition): direct least
// squares, outlier rejection rounds, Levenberg-Marquardt refinement, same order of float64
// operations where it matters. See android_demo_assets/README.md "Contract", steps 6-8.

import { normalized, ellipseDistance } from './geometry.js';

const PI = Math.PI;
export const OUTLIER_ROUNDS = 2;
export const OUTLIER_MADS = 3.0;

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

/** hc_tf.measure.fit.fit_ellipse: direct least squares (Fitzgibbon / Halir-Flusser), normalized points. */
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

/** hc_tf.measure.fit.robust_fit_ellipse. `trace` (optional array) receives each round's margins. */
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

/** hc_tf.measure.fit.refine_ellipse: Levenberg-Marquardt on orthogonal distances. */
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
