// A GA from dating (LMP or an earlier scan), worded as hc_tf/clinical/dating.py (the
// definition) words it; label, note and source from the bundle metadata's clinical.dating.

import { formatGa, weeksToDays } from './clinical.js';

/** dating.DatingGa.display: "GA from dating: 27+3 (LMP or earlier scan, as given)". */
export function datingDisplay(spec, weeks) {
  return `${spec.dating.label}: ${formatGa(weeksToDays(weeks))} (${spec.dating.source})`;
}

/** records.image_record's "dating": {label, display, source, note}. */
export function datingRecord(spec, weeks) {
  const d = spec.dating;
  return { label: d.label, display: datingDisplay(spec, weeks), source: d.source, note: d.note };
}
