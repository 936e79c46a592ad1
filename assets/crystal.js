// One crystal: its gain constants per interval, its in-fill profile from the merged
// file with the fitted N (1 - A exp(-t/tau)) drawn on it, and its energy spectrum
// from a subrun file with the reference run's overlaid (normalised), drawn live by
// JSROOT from the files the server serves.

import { api, el, seg, banner } from './common.js';
import { drawInfill, drawObject, drawWithReference } from './hist.js';
import { box, fileUrl } from './views.js';

const root = document.getElementById('crystal');
const { dataset: ds, calo, xtal } = root.dataset;
const sel = document.getElementById('interval');
const fmt = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : String(v));
let info;

function gainTable(iv) {
  const t = document.getElementById('gain');
  t.textContent = '';
  const g = iv.gain || {};
  const rows = Object.entries(g).filter(([, v]) => typeof v !== 'object' || v === null);
  t.append(el('tr', {}, rows.map(([k]) => el('th', { text: k }))));
  t.append(el('tr', {}, rows.map(([, v]) => el('td', { class: typeof v === 'number' ? 'num' : '', text: fmt(v) }))));
}

// Every box is made first, then everything is drawn at once: a page is complete
// when all its boxes hold a drawing or an error.
async function draw() {
  const iv = info.intervals[Number(sel.value)];
  gainTable(iv);
  const hists = document.getElementById('hists');
  hists.textContent = '';
  const jobs = [];
  if (iv.merged) {
    const d = box(hists, 'infill', `In-fill gain, runs ${iv.first}-${iv.last}`, iv.fit ? `fit: N = ${fmt(iv.fit.N)}, A = ${fmt(iv.fit.A)}, tau = ${fmt(iv.fit.tau)} µs` : 'no fit for this crystal in this interval');
    const url = fileUrl(ds, 'out', iv.merged);
    jobs.push(iv.fit ? drawInfill(d, url, info.paths.infill, iv.fit) : drawObject(d, url, info.paths.infill, { option: 'E1' }));
  }
  if (iv.energy_file) {
    const d = box(hists, 'energy', `Energy spectrum (${iv.energy_label}) with the reference run`, iv.reference_file ? `reference: ${iv.reference_label}, scaled to the same integral` : 'no subrun file of the reference run is known');
    const url = fileUrl(ds, 'input', iv.energy_file);
    jobs.push(iv.reference_file ? drawWithReference(d, url, info.paths.energy, fileUrl(ds, 'input', iv.reference_file), info.paths.energy, { labels: [iv.energy_label, iv.reference_label] }) : drawObject(d, url, info.paths.energy, { option: 'hist' }));
  }
  await Promise.all(jobs);
}

async function main() {
  try {
    info = await api(`/api/datasets/${seg(ds)}/crystals/${calo}/${xtal}`);
  } catch (e) {
    banner(e.message);
    return;
  }
  info.intervals.forEach((iv, i) => sel.append(el('option', { value: i, text: `runs ${iv.first}-${iv.last}${iv.status ? ` (${iv.status})` : ''}` })));
  const want = new URLSearchParams(location.search).get('interval');
  if (want !== null) sel.value = want;
  sel.addEventListener('change', draw);
  await draw();
}

main();
