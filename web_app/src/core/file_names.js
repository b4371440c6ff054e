// A file's name without its extension: a port of hc_tf/io/file_names.py (output names, exams).

// file_names.KNOWN_EXTENSIONS: only these go (a DICOM file named by its UID keeps its last part).
const KNOWN_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.gif', '.dcm', '.dicom'];

/** file_names.file_stem: the name without a known extension (os.path.splitext's: leading dots are the name's). */
export function fileStem(name) {
  const dot = name.lastIndexOf('.');
  const root = name.slice(0, Math.max(dot, 0));
  return /[^.]/.test(root) && KNOWN_EXTENSIONS.includes(name.slice(dot).toLowerCase()) ? root : name;
}

/** file_names.source_stem: the stem of the file a report row came from ("scan.dcm#3", a DICOM frame's row, is its file's). */
export function sourceStem(name) {
  return fileStem(name.split('/').pop().replace(/#[0-9]+$/, ''));
}
