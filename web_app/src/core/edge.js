// The model's output as hc_tf/edge.py's LiteRunner.dequantize_output reads it.

/** Dequantizes the model's uint8 output: p = (q - zeroPoint) * scale, in float32 (as hc_tf.edge). */
export function dequantize(q, scale, zeroPoint) {
  const out = new Float32Array(q.length);
  const s = Math.fround(scale);
  for (let i = 0; i < q.length; i++) out[i] = Math.fround(Math.fround(q[i] - zeroPoint) * s);
  return out;
}
