// Ellipse geometry: a port of hc_tf/measure/geometry.py (the definition): normalization,
// perimeter, first-order distance. Conventions: x the column, y the row, a >= b, angle in [0, pi).

const PI = Math.PI;

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
  for (const [name, v] of [['a', a], ['b', b]]) {
    if (!(typeof v === 'number' && v >= 0 && v < Infinity)) throw new Error(`semi-axis ${name} must be a finite number >= 0, got ${String(v)}`);
  }
  const h = a + b > 0 ? ((a - b) / (a + b)) ** 2 : 0.0;
  return PI * (a + b) * (1.0 + 3.0 * h / (10.0 + Math.sqrt(4.0 - 3.0 * h)));
}

/** hc_tf.measure.geometry.ellipse_distance: first-order (Sampson-like) distance |f| / |grad f|. */
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
