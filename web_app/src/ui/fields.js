// A field's own error: the text in its `<id>-error` element (next to it, in its
// aria-describedby; no live region: #message announces an error once) and aria-invalid on it.

const $ = (id) => document.getElementById(id);

/** Says `text` as field `id`'s error ('' or null: none, aria-invalid removed). */
export function fieldError(id, text) {
  const input = $(id), out = $(`${id}-error`);
  out.textContent = text || '';
  out.hidden = !text;
  if (text) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
}

/** A refused submit: the error said on the field, which takes the focus (where it is corrected). */
export function fieldRefused(id, text) {
  fieldError(id, text);
  $(id).focus();
}
