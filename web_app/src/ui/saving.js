// The report's downloads and copy: the records of the result on screen or of the batch, the known
// GA typed in each (as predict's --ga-weeks), saved under the measurement's neutral name
// (ui/download_names.js); nothing is saved while the GA typed is refused.
import { imageRecord, withKnownGa, reportCsv, reportJson, download } from './report.js';
import { fhirBundle, frameFilename } from './dicom.js';
import { downloadName } from './download_names.js';
import { describeError } from '../core/pipeline.js';

const $ = (id) => document.getElementById(id);

/** { reportRecords, saveReport(kind) } of the page's `state`; `offerReports` says why none is offered. */
export function reportSaver({ state, gaProblem, offerReports, message }) {
  /** make(knownGa) with the known GA typed now; without one when the entry is refused (its message is on screen). */
  function withTypedGa(make) {
    try { return make($('known-ga').value.trim()); } catch { return make(''); }
  }

  function reportRecords() {
    const spec = state.model.meta.clinical;
    // Every image gets the GA typed, as predict's --ga-weeks gives it to every image.
    if (state.batch) return (state.batch.records || []).map((rec) => withTypedGa((ga) => withKnownGa(spec, rec, ga)));
    if (!state.result || !state.trusted) return [];
    const { name, prep } = state.image;
    const filename = prep.dicom ? frameFilename(name, prep.dicom) : name; // predict's name of the frame
    return [withTypedGa((ga) => imageRecord(spec, filename, state.result, ga))];
  }

  async function saveReport(kind) {
    if (kind === 'fhir') {
      if (gaProblem()) { offerReports(); return; }
      try {
        const bundle = withTypedGa((ga) => fhirBundle(state.model, state.image, state.result, ga));
        download(`${JSON.stringify(bundle, null, 2)}\n`, downloadName(state.stem, 'fhir'), 'application/fhir+json');
      } catch (err) { message(err.message); }
      return;
    }
    const measured = state.batch?.records, recs = reportRecords();
    if (gaProblem()) { offerReports(); return; } // (not offered: the GA would be left out)
    if (!recs.length) { message('Nothing measured to save yet.'); return; }
    const unreadable = state.batch?.unreadable || [];
    const stem = state.batch ? state.batch.stem : state.stem; // the measurement's
    if (kind === 'csv') download(reportCsv(recs), downloadName(stem, 'csv'), 'text/csv');
    else if (kind === 'json') download(reportJson(recs, state.model, unreadable), downloadName(stem, 'json'), 'application/json');
    else {
      // The note names what was copied, beside the button pressed; it goes with the result.
      const b = state.batch, result = state.result, note = $(b ? 'batch-copied' : 'copied');
      const what = b ? `${recs.length} image${recs.length === 1 ? '' : 's'}` : state.image.name;
      note.textContent = '';
      try { await navigator.clipboard.writeText(reportCsv(recs)); } catch (err) {
        message(`Could not copy the report (${describeError(err)}): save it as CSV or JSON instead.`);
        return;
      }
      if (state.batch !== b || state.result !== result || (b && b.records !== measured)) return; // moved on meanwhile
      message(''); note.textContent = `Report of ${what} copied (CSV).`;
    }
  }

  return { reportRecords, saveReport };
}
