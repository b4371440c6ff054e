// A file of several images refused before it is decoded, in hc_tf/io/images.py multi_frame's
// words: an animated PNG (acTL chunk before the image data), GIF (more than one image
// descriptor) or WebP (ANMF chunks). createImageBitmap and ImageDecoder's first frame were
// measured without a word, as OpenCV's first frame was in predict. The walks are by the chunks'
// and blocks' lengths, bounded by the file (png_chunks.animation_frames, gif_check.frame_count,
// webp_check.frame_count). The app reads no TIFF (predict refuses a multi-page one too).
import { gifFrameCount } from './gif_check.js';

const be32 = (b, i) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const le32 = (b, i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** png_chunks.animation_frames: the frames an acTL chunk before the first IDAT announces, plus
 * the IDAT when no fcTL precedes it (a default image outside the animation), else 0. */
export function pngFrameCount(b) {
  if (b.length < 8 || PNG_SIGNATURE.some((v, i) => b[i] !== v)) return 0;
  let frames = 0, framed = false;
  for (let i = 8; i + 12 <= b.length;) {
    const len = be32(b, i), type = ascii(b, i + 4, 4), end = i + 8 + len;
    if (end + 4 > b.length) return 0;
    if (type === 'IDAT') return frames + (framed || !frames ? 0 : 1);
    if (type === 'acTL' && len >= 4) frames = be32(b, i + 8);
    framed = framed || type === 'fcTL';
    i = end + 4;
  }
  return 0;
}

/** webp_check.frame_count: an animated WebP's ANMF chunks (1 for an animation flag without any), else 0. */
export function webpFrameCount(b) {
  if (b.length < 12 || ascii(b, 0, 4) !== 'RIFF' || ascii(b, 8, 4) !== 'WEBP') return 0;
  let frames = 0, animated = false;
  for (let at = 12; at + 8 <= b.length;) {
    const kind = ascii(b, at, 4), size = le32(b, at + 4);
    if (kind === 'VP8X' && size >= 1 && at + 8 < b.length) animated = (b[at + 8] & 0x02) !== 0;
    if (kind === 'ANMF') frames += 1;
    at += 8 + size + (size & 1);
  }
  return animated || frames ? Math.max(frames, 1) : 0;
}

/** images.multi_frame: why a file of several frames is refused (without the file's name), else null. */
export function multiFrame(b) {
  for (const [kind, frames] of [['an animated PNG', pngFrameCount(b)], ['an animated GIF', gifFrameCount(b)], ['an animated WebP', webpFrameCount(b)]]) {
    if (frames > 1) return `${kind} (${frames} frames); hc-tf measures one image a file: save the frame to measure as its own image`;
  }
  return null;
}
