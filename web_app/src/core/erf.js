// erf and erfc: a port of fdlibm's s_erf.c as glibc's libm has it (sysdeps/ieee754/dbl-64/
// s_erf.c, with its 1997 reordering of the polynomials), which Python's math.erf/erfc call on
// Linux: the same constants and the same floating-point operations in the same order, so the
// same doubles but where glibc's own exp rounds a near-halfway case the wrong way (about 1 value
// in 2,000 for erfc, 1 ulp; erf matched on every value tried); other platforms' libm may differ
// more. Its exp() calls use `exp` below, within ~1e-30 of e^x before its one rounding (Math.exp
// is fdlibm's, up to 1 ulp off). JavaScript has neither function; clinical.js uses erfc for the
// normal CDF.

const f64 = new Float64Array(1), u32 = new Uint32Array(f64.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0; // the high word's index
const highWord = (x) => { f64[0] = x; return u32[HI] | 0; };
const clearLowWord = (x) => { f64[0] = x; u32[1 - HI] = 0; return f64[0]; };

const ERX = 8.45062911510467529297e-01;
const EFX = 1.28379167095512586316e-01;
const PP = [1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
  -5.77027029648944159157e-03, -2.37630166566501626084e-05];
const QQ = [0.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
  1.32494738004321644526e-04, -3.96022827877536812320e-06];
const PA = [-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
  3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
  -2.16637559486879084300e-03];
const QA = [0.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
  1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02];
const RA = [-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
  -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
  -8.12874355063065934246e+01, -9.81432934416914548592e+00];
const SA = [0.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
  6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
  6.57024977031928170135e+00, -6.04244152148580987438e-02];
const RB = [-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
  -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
  -4.83519191608651397019e+02];
const SB = [0.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
  3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
  -2.24409524465858183362e+01];
const TINY = 1e-300;

/** |x| < 0.84375: the ratio y of erf(x) = x + x*y. */
function smallRatio(x) {
  const z = x * x;
  const r1 = PP[0] + z * PP[1], z2 = z * z;
  const r2 = PP[2] + z * PP[3], z4 = z2 * z2;
  const s1 = 1 + z * QQ[1], s2 = QQ[2] + z * QQ[3], s3 = QQ[4] + z * QQ[5];
  return (r1 + z2 * r2 + z4 * PP[4]) / (s1 + z2 * s2 + z4 * s3);
}

/** 0.84375 <= |x| < 1.25: P/Q of erf(|x|) = erx + P/Q. */
function nearOne(x) {
  const s = Math.abs(x) - 1;
  const P1 = PA[0] + s * PA[1], s2 = s * s;
  const Q1 = 1 + s * QA[1], s4 = s2 * s2;
  const P2 = PA[2] + s * PA[3], s6 = s4 * s2;
  const Q2 = QA[2] + s * QA[3], P3 = PA[4] + s * PA[5], Q3 = QA[4] + s * QA[5];
  return (P1 + s2 * P2 + s4 * P3 + s6 * PA[6]) / (Q1 + s2 * Q2 + s4 * Q3 + s6 * QA[6]);
}

/** 1.25 <= x (= |x|) < 28: erfc(x) * x, as exp(-x*x - 0.5625 + R/S); `ix` picks R/S's range. */
function tailTimesX(x, ix, bound) {
  const s = 1 / (x * x), s2 = s * s, s4 = s2 * s2, s6 = s4 * s2;
  let R, S;
  if (ix < bound) {
    R = RA[0] + s * RA[1] + s2 * (RA[2] + s * RA[3]) + s4 * (RA[4] + s * RA[5]) + s6 * (RA[6] + s * RA[7]);
    S = 1 + s * SA[1] + s2 * (SA[2] + s * SA[3]) + s4 * (SA[4] + s * SA[5]) + s6 * (SA[6] + s * SA[7])
      + (s4 * s4) * SA[8];
  } else {
    R = RB[0] + s * RB[1] + s2 * (RB[2] + s * RB[3]) + s4 * (RB[4] + s * RB[5]) + s6 * RB[6];
    S = 1 + s * SB[1] + s2 * (SB[2] + s * SB[3]) + s4 * (SB[4] + s * SB[5]) + s6 * (SB[6] + s * SB[7]);
  }
  const z = clearLowWord(x);
  return exp(-z * z - 0.5625) * exp((z - x) * (z + x) + R / S);
}

export function erf(x) {
  const hx = highWord(x), ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return Number.isNaN(x) ? NaN : Math.sign(x);
  if (ix < 0x3feb0000) { // |x| < 0.84375
    if (ix < 0x3e300000) return ix < 0x00800000 ? 0.0625 * (16.0 * x + (16.0 * EFX) * x) : x + EFX * x;
    return x + x * smallRatio(x);
  }
  if (ix < 0x3ff40000) return hx >= 0 ? ERX + nearOne(x) : -ERX - nearOne(x);
  if (ix >= 0x40180000) return hx >= 0 ? 1 - TINY : TINY - 1; // |x| >= 6
  const ax = Math.abs(x), r = tailTimesX(ax, ix, 0x4006DB6E);
  return hx >= 0 ? 1 - r / ax : r / ax - 1;
}

export function erfc(x) {
  const hx = highWord(x), ix = hx & 0x7fffffff;
  if (ix >= 0x7ff00000) return Number.isNaN(x) ? NaN : x > 0 ? 0 : 2;
  if (ix < 0x3feb0000) { // |x| < 0.84375
    if (ix < 0x3c700000) return 1 - x;
    const y = smallRatio(x);
    if (hx < 0x3fd00000) return 1 - (x + x * y); // x < 1/4
    let r = x * y;
    r += x - 0.5;
    return 0.5 - r;
  }
  if (ix < 0x3ff40000) return hx >= 0 ? (1 - ERX) - nearOne(x) : 1 + (ERX + nearOne(x));
  if (ix < 0x403c0000) { // |x| < 28
    if (hx < 0 && ix >= 0x40180000) return 2 - TINY; // x < -6
    const ax = Math.abs(x), r = tailTimesX(ax, ix, 0x4006DB6D);
    return hx > 0 ? r / ax : 2 - r / ax;
  }
  return hx > 0 ? TINY * TINY : 2 - TINY;
}

// ---------------------------------------------------------------- exp, in double-double

const LN2_H = 0.6931471805599453, LN2_L = 2.3190468138462996e-17; // ln 2 = LN2_H + LN2_L to ~1e-33
const SPLIT = 134217729; // 2^27 + 1, Veltkamp's split

function pow2(k) { f64[0] = 0; u32[HI] = (k + 1023) << 20; return f64[0]; } // 2^k, -1022 <= k <= 1023

function twoProd(a, b) {
  const p = a * b;
  let t = SPLIT * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b), bl = b - bh;
  return [p, ((ah * bh - p) + ah * bl + al * bh) + al * bl];
}

function fastTwoSum(a, b) { const s = a + b; return [s, b - (s - a)]; }

function twoSum(a, b) { const s = a + b, bb = s - a; return [s, (a - (s - bb)) + (b - bb)]; }

/** e^x rounded once to the nearest double (from ~1e-30 relative; NaN and infinities as Math.exp). */
export function exp(x) {
  if (!(x > -1200)) return Number.isNaN(x) ? NaN : 0;
  if (x > 710) return Infinity;
  const k = Math.round(x / LN2_H);
  // r = x - k ln2 in double-double; k ln2_h is exact as p + pe.
  const [p, pe] = twoProd(k, LN2_H);
  const [s, se] = twoSum(x, -p);
  let [rh, rl] = fastTwoSum(s, (se - pe) - k * LN2_L);
  // e^r = sum r^n / n!, |r| <= 0.35: 27 terms reach 1e-32.
  let th = 1, tl = 0, sh = 1, sl = 0;
  for (let n = 1; n < 30; n++) {
    const [mh, me] = twoProd(th, rh); // term *= r
    [th, tl] = fastTwoSum(mh, me + th * rl + tl * rh);
    const q = th / n, [qh, qe] = twoProd(q, n); // term /= n
    [th, tl] = fastTwoSum(q, ((th - qh) - qe + tl) / n);
    const [ah, ae] = twoSum(sh, th); // sum += term
    [sh, sl] = fastTwoSum(ah, ae + sl + tl);
    if (Math.abs(th) < 1e-34) break;
  }
  if (k >= -1022) return k > 1023 ? sh * pow2(1023) * 2 : sh * pow2(k); // exact scalings
  // A subnormal result: round (sh + sl) 2^k to the grid of 2^-1074 once, ties to even.
  const H = sh * pow2(k + 1074), L = sl * pow2(k + 1074);
  const f = Math.floor(H), frac = (H - f) + L;
  const n = frac > 0.5 || (frac === 0.5 && f % 2 === 1) ? f + 1 : f;
  return n * 5e-324;
}
