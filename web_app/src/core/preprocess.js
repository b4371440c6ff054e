// Pre-processing: decode result (RGBA or gray) -> 8-bit gray -> letterbox.
// A port of hc_tf/preprocess.py (the definition), including the exact integer and
// float32 arithmetic of the OpenCV calls it makes (cv2.cvtColor RGB2GRAY,
// cv2.resize INTER_AREA / INTER_LINEAR on 8-bit images). See README "Contract".

const f32 = Math.fround;

/** Round half to even (cvRound / lrint in the default rounding mode), then clamp to 0..255. */
export function saturateU8(v) {
  let r = Math.round(v);
  if (r - v === 0.5 && (r & 1) === 1) r -= 1; // tie: Math.round went up to an odd value
  return r < 0 ? 0 : r > 255 ? 255 : r;
}

/**
 * OpenCV (5.0) RGB -> gray for 8-bit: (R*9798 + G*19235 + B*3735 + 16384) >> 15 (0.299, 0.587,
 * 0.114 in 15-bit fixed point). R = G = B = v gives v exactly. Alpha is ignored.
 * @param {Uint8Array|Uint8ClampedArray} rgba  width*height*channels bytes
 * @param {number} channels 1, 3 or 4 (RGB order, or BGR with bgr: true)
 */
export function toGray(data, width, height, channels, { bgr = false } = {}) {
  const n = width * height;
  const out = new Uint8Array(n);
  if (channels === 1) { out.set(data.subarray(0, n)); return out; }
  if (channels !== 3 && channels !== 4) throw new Error(`expected 1, 3 or 4 channels, got ${channels}`);
  if (bgr) { // B, G, R(, X) order (a VideoFrame's BGRX): a loop of its own keeps the weights constants
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      out[i] = (data[j + 2] * 9798 + data[j + 1] * 19235 + data[j] * 3735 + 16384) >> 15;
    }
    return out;
  }
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    out[i] = (data[j] * 9798 + data[j + 1] * 19235 + data[j + 2] * 3735 + 16384) >> 15;
  }
  return out;
}

/** Python's round() for the non-negative values used here: half to even. */
function pyRound(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && (r & 1) === 1) ? r - 1 : r;
}

/**
 * hc_tf.preprocess.letterbox_transform: fit (srcH, srcW) into (dstH, dstW), centred.
 */
export function letterboxTransform(srcH, srcW, dstH, dstW) {
  if (!(Math.min(srcH, srcW, dstH, dstW) > 0)) {
    throw new Error(`image and model sizes must be positive, got ${srcH}x${srcW} -> ${dstH}x${dstW}`);
  }
  const scale = Math.min(dstW / srcW, dstH / srcH);
  const nw = Math.min(dstW, Math.max(1, pyRound(srcW * scale)));
  const nh = Math.min(dstH, Math.max(1, pyRound(srcH * scale)));
  return {
    scale_x: nw / srcW, scale_y: nh / srcH,
    offset_x: Math.floor((dstW - nw) / 2), offset_y: Math.floor((dstH - nh) / 2),
    src_width: srcW, src_height: srcH, dst_width: dstW, dst_height: dstH,
  };
}

/** Resized size of a box, as _resize_into computes it: round(scale * src). */
export function resizedSize(box) {
  return [pyRound(box.scale_x * box.src_width), pyRound(box.scale_y * box.src_height)];
}

export function toModel(box, x, y) {
  return [(x + 0.5) * box.scale_x - 0.5 + box.offset_x, (y + 0.5) * box.scale_y - 0.5 + box.offset_y];
}

export function toOriginal(box, x, y) {
  return [(x - box.offset_x + 0.5) / box.scale_x - 0.5, (y - box.offset_y + 0.5) / box.scale_y - 0.5];
}

// --- cv2.resize, 8-bit single channel --------------------------------------------------

/** OpenCV computeResizeAreaTab: [dstIndex, srcIndex, float32 weight] triples. */
function areaTab(ssize, dsize, scale) {
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) tab.push([dx, sx1 - 1, f32((sx1 - fsx1) / cellWidth)]);
    for (let sx = sx1; sx < sx2; sx++) tab.push([dx, sx, f32(1.0 / cellWidth)]);
    if (fsx2 - sx2 > 1e-3) {
      tab.push([dx, sx2, f32(Math.min(Math.min(fsx2 - sx2, 1.0), cellWidth) / cellWidth)]);
    }
  }
  return tab;
}

/** An area table as flat typed arrays (dst, src, weight): the per-pixel loop reads no nested arrays. */
function flatTab(tab) {
  const dst = new Int32Array(tab.length), src = new Int32Array(tab.length), w = new Float32Array(tab.length);
  tab.forEach(([d, sIdx, weight], k) => { dst[k] = d; src[k] = sIdx; w[k] = weight; });
  return { dst, src, w, n: tab.length };
}

/**
 * cv2 INTER_AREA downscale, general (non-integer) factor: float32 accumulation. buf and sum
 * are Float32Arrays, so each store rounds to float32 exactly as cv2's float buffers do.
 */
function resizeAreaGeneral(src, sw, sh, dw, dh, scaleX, scaleY) {
  const { src: xSrc, w: xW, n: nx, dst: xDst } = flatTab(areaTab(sw, dw, scaleX));
  // The table lists each output column's entries together, in order: column dx owns
  // [xStart[dx], xStart[dx + 1]), summed in a local float32 as cv2 sums them into its buffer.
  const xStart = new Int32Array(dw + 1);
  for (let k = 0; k < nx; k++) xStart[xDst[k] + 1]++;
  for (let dx = 0; dx < dw; dx++) xStart[dx + 1] += xStart[dx];
  const yt = flatTab(areaTab(sh, dh, scaleY));
  const out = new Uint8Array(dw * dh);
  const buf = new Float32Array(dw);
  const sum = new Float32Array(dw);
  let prevDy = yt.dst[0], prevSy = -1;
  for (let j = 0; j < yt.n; j++) {
    const dy = yt.dst[j], sy = yt.src[j], beta = yt.w[j];
    if (sy !== prevSy) { // a row split between two output rows comes twice in a row: sum it once
      const row = sy * sw;
      for (let dx = 0, k = 0; dx < dw; dx++) {
        let acc = 0;
        for (const end = xStart[dx + 1]; k < end; k++) acc = f32(acc + f32(src[row + xSrc[k]] * xW[k]));
        buf[dx] = acc;
      }
      prevSy = sy;
    }
    if (dy !== prevDy) {
      const o = prevDy * dw;
      for (let dx = 0; dx < dw; dx++) {
        out[o + dx] = saturateU8(sum[dx]);
        sum[dx] = beta * buf[dx];
      }
      prevDy = dy;
    } else {
      for (let dx = 0; dx < dw; dx++) sum[dx] += f32(beta * buf[dx]);
    }
  }
  const o = prevDy * dw;
  for (let dx = 0; dx < dw; dx++) out[o + dx] = saturateU8(sum[dx]);
  return out;
}

/** cv2 INTER_AREA with integer factors (resizeAreaFast_): 2x2 -> (sum + 2) >> 2, else round(sum * (1/area) as float32). */
function resizeAreaFast(src, sw, sh, dw, dh, ix, iy) {
  const out = new Uint8Array(dw * dh);
  const area = ix * iy;
  const scale = f32(1 / area);
  for (let dy = 0; dy < dh; dy++) {
    for (let dx = 0; dx < dw; dx++) {
      let s = 0;
      for (let y = 0; y < iy; y++) {
        const row = (dy * iy + y) * sw + dx * ix;
        for (let x = 0; x < ix; x++) s += src[row + x];
      }
      out[dy * dw + dx] = (ix === 2 && iy === 2) ? (s + 2) >> 2 : saturateU8(f32(s * scale));
    }
  }
  return out;
}

/**
 * cv2's linear resize for 8-bit (INTER_LINEAR, and INTER_AREA when enlarging in either
 * direction, which uses "area mode" weights): 11-bit fixed-point weights (round(w * 2048)),
 * horizontal pass in integers, vertical pass as OpenCV's SIMD kernel computes it:
 * ((((S0 >> 4) * b0) >> 16) + (((S1 >> 4) * b1) >> 16) + 2) >> 2, saturated to 0..255.
 * Columns are clamped into the image (weight 0 on the missing neighbour); rows are not:
 * a row index outside the image reads the nearest edge row with the unclamped weights.
 */
function resizeLinear(src, sw, sh, dw, dh, areaMode) {
  const coefs = (ssize, dsize, clampToImage) => {
    const invScale = dsize / ssize; // OpenCV's inv_scale_x, and scale = 1 / inv_scale
    const scale = 1 / invScale;
    const ofs = new Int32Array(dsize);
    const a0 = new Int32Array(dsize);
    const a1 = new Int32Array(dsize);
    let max = dsize;
    for (let d = 0; d < dsize; d++) {
      let s, f;
      if (!areaMode) {
        f = f32((d + 0.5) * scale - 0.5);
        s = Math.floor(f);
        f = f32(f - s);
      } else {
        s = Math.floor(d * scale);
        f = f32((d + 1) - (s + 1) * invScale);
        f = f <= 0 ? 0 : f32(f - Math.floor(f));
      }
      if (clampToImage) {
        if (s < 0) { f = 0; s = 0; }
        if (s + 1 >= ssize) {
          max = Math.min(max, d);
          if (s >= ssize - 1) { f = 0; s = ssize - 1; }
        }
      }
      ofs[d] = s;
      a0[d] = saturateS16(f32(1 - f) * 2048);
      a1[d] = saturateS16(f * 2048);
    }
    return { ofs, a0, a1, max };
  };
  const X = coefs(sw, dw, true);
  const Y = coefs(sh, dh, false);
  const hrow = (sy) => {
    const r = new Int32Array(dw);
    const o = sy * sw;
    for (let dx = 0; dx < dw; dx++) {
      const sx = X.ofs[dx];
      r[dx] = dx < X.max ? src[o + sx] * X.a0[dx] + src[o + sx + 1] * X.a1[dx] : src[o + sx] * 2048;
    }
    return r;
  };
  const clampRow = (y) => (y < 0 ? 0 : y >= sh ? sh - 1 : y);
  const out = new Uint8Array(dw * dh);
  for (let dy = 0; dy < dh; dy++) {
    const sy = Y.ofs[dy];
    const s0 = hrow(clampRow(sy));
    const s1 = hrow(clampRow(sy + 1));
    const b0 = Y.a0[dy], b1 = Y.a1[dy];
    for (let dx = 0; dx < dw; dx++) {
      const v = ((((s0[dx] >> 4) * b0) >> 16) + (((s1[dx] >> 4) * b1) >> 16) + 2) >> 2;
      out[dy * dw + dx] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

function saturateS16(v) {
  const r = saturateU8Like(v);
  return r < -32768 ? -32768 : r > 32767 ? 32767 : r;
}
function saturateU8Like(v) {
  let r = Math.round(v);
  if (r - v === 0.5 && (r & 1) !== 0) r -= 1;
  return r;
}

/**
 * cv2.resize(gray, (dw, dh), interpolation) for a single-channel uint8 image.
 * @param {'area'|'linear'} interp
 */
export function resizeU8(src, sw, sh, dw, dh, interp) {
  if (dw === sw && dh === sh) return Uint8Array.from(src.subarray(0, sw * sh));
  const scaleX = 1 / (dw / sw); // OpenCV: scale = 1 / inv_scale, inv_scale = dsize / ssize
  const scaleY = 1 / (dh / sh);
  if (interp === 'area' && scaleX >= 1 && scaleY >= 1) {
    const ix = Math.round(scaleX), iy = Math.round(scaleY);
    if (Math.abs(scaleX - ix) < Number.EPSILON && Math.abs(scaleY - iy) < Number.EPSILON) {
      return resizeAreaFast(src, sw, sh, dw, dh, ix, iy);
    }
    return resizeAreaGeneral(src, sw, sh, dw, dh, scaleX, scaleY);
  }
  return resizeLinear(src, sw, sh, dw, dh, interp === 'area');
}

/**
 * hc_tf.preprocess.letterbox_image for a decoded 2-D uint8 gray image.
 * @returns {{input: Uint8Array, box: object}} input is dstH*dstW bytes, row-major.
 */
export function letterboxImage(gray, width, height, dstH, dstW) {
  if (Math.min(width, height) < 2) {
    throw new Error(`image: expected a 2-D grayscale image, got shape [${height}, ${width}]`);
  }
  const box = letterboxTransform(height, width, dstH, dstW);
  const [nw, nh] = resizedSize(box);
  const resized = resizeU8(gray, width, height, nw, nh, nw <= width ? 'area' : 'linear');
  const input = new Uint8Array(dstH * dstW); // pad value 0
  const ox = box.offset_x, oy = box.offset_y;
  for (let y = 0; y < nh; y++) input.set(resized.subarray(y * nw, (y + 1) * nw), (oy + y) * dstW + ox);
  return { input, box };
}
