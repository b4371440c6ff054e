// The measurement's public names, as hc_tf/measure/__init__.py gathers them.

export { wrapPi, normalized, ramanujanPerimeter, ellipseDistance } from './geometry.js';
export { solve, fitEllipse, robustFitEllipse, refineEllipse, OUTLIER_ROUNDS, OUTLIER_MADS } from './fit.js';
export { largestComponent, fillHoles } from './contour.js';
export { checkPixelSize } from './pixel_size.js';
export { measure, notFound, MIN_SEMI_AXIS_MODEL_PX, MAX_ASPECT, MAX_AXIS_IMAGE_RATIO, MIN_BOUNDARY_POINTS } from './probmap.js';
export { contrastLevels, tooUniformReason } from './image_contrast.js';
export { dequantize } from '../edge.js';
