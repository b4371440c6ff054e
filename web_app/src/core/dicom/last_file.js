// The decode worker's memory of the last DICOM file it opened (openDicom's state: the parsed
// data set, which holds the file's bytes, and the last frame decoded), so that another frame of
// it, or a region of the same frame, is not read and parsed again. One file only, known by the
// key the page gave it (core/decoder.js fileKey: a counter per chosen file, never its name or
// size, which two files can share): a job for any other key drops it first, as does a new
// choice (forget), so that nothing of one patient's image stays once the next is chosen.

/** The state of one file, `key` read as `name` under `limits`, or none. */
export class LastFile {
  #kept = null;

  /**
   * The state kept for `key`, when it was read as `name` under the same `limits` (what its checks
   * depend on), else null; any other file's state is dropped first. A job without a key
   * (null or undefined) is never served, and drops it too.
   */
  take(key, name, limits) {
    const k = this.#kept;
    if (key != null && k?.key === key && k.name === name && k.limits === JSON.stringify(limits)) return k.state;
    this.#kept = null;
    return null;
  }

  /** Keeps `state` for `key` (read as `name` under `limits`) in place of anything else; not without a key. */
  keep(key, name, limits, state) {
    this.#kept = key == null ? null : { key, name, limits: JSON.stringify(limits), state };
  }

  /** Drops what is kept (a new choice on the page). */
  forget() { this.#kept = null; }

  /** The key of the file kept, or null. */
  get key() { return this.#kept?.key ?? null; }
}
