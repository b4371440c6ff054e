// Offline use: the service worker precaches the app, the model, the samples and every wasm
// build; "ready offline" is said only once all of them are stored and the worker controls the page.
import { describeError } from '../core/pipeline.js';

const $ = (id) => document.getElementById(id);

function say(state, text) {
  const el = $('offline');
  el.dataset.state = state; el.textContent = text;
  document.body.dataset.offline = state;
  const short = { ready: 'Works offline.', pending: 'Storing for offline use…', error: 'Not ready offline (see About).' }[state];
  $('summary-offline').textContent = short || '';
}

async function controlled() {
  if (navigator.serviceWorker.controller) return;
  await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
}

/** Registers the worker and reports when every precached file is stored. */
export async function setUpOffline(version, disabled) {
  if (disabled) { say('off', 'Offline use: off for this page (?sw=0).'); return; }
  if (!('serviceWorker' in navigator)) { say('unavailable', 'Offline use: not available here (the browser has no service workers, or the page is not on https or localhost).'); return; }
  say('pending', 'Offline use: storing the app on this device… (stay online until it says ready)');
  try {
    await navigator.serviceWorker.register('./sw.js');
    await navigator.serviceWorker.ready;
    await controlled();
    const cache = await caches.open(`hc-tf-${version}`);
    const list = await (await fetch('./precache.json')).json();
    const missing = [];
    for (const u of list) if (!(await cache.match(new URL(u, location.href).href, { ignoreSearch: true }))) missing.push(u);
    if (missing.length) { say('error', `Offline use: not ready: ${missing.length} files are not stored (${missing.slice(0, 3).join(', ')}…); reload while online.`); return; }
    say('ready', `Ready offline: the app, the model and all ${list.filter((u) => u.endsWith('.wasm')).length} runtime builds are stored on this device.`);
  } catch (err) {
    say('error', `Offline use: not available (${describeError(err)}).`);
  }
}
