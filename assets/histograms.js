// A dataset's merged histograms per interval, drawn live by JSROOT: the crystal hit
// and pedestal maps (a click on a crystal opens it), the out-of-fill laser ratio per
// crystal, and the tracker drift times per straw.

import { api, el, seg, banner } from './common.js';
import { drawCaloMap, drawObject } from './hist.js';
import { box, fileUrl } from './views.js';

const root = document.getElementById('histograms');
const ds = root.dataset.dataset;
const sel = document.getElementById('interval');
let info;

function openCrystal(iv) {
  return (c) => {
    if (c && c.calo) location.href = `/datasets/${seg(ds)}/crystals/${c.calo}/${c.xtal}?interval=${iv}`;
  };
}

async function draw() {
  const i = Number(sel.value);
  const iv = info.intervals[i];
  const hists = document.getElementById('hists');
  hists.textContent = '';
  if (!iv.merged) {
    hists.append(el('p', { text: 'No merged file for this interval.' }));
    return;
  }
  const url = fileUrl(ds, 'out', iv.merged);
  const p = info.paths;
  // The boxes first, then every drawing at once (one file, read once by JSROOT).
  const boxes = [box(hists, 'map-hits', 'Crystal hits (click a crystal)'), box(hists, 'map-pedestal', 'Pedestal RMS per crystal (click a crystal)'), box(hists, 'map-oof', 'Out-of-fill laser ratio per crystal (click a crystal)'), box(hists, 'drift', 'Tracker drift time per straw')];
  await Promise.all([
    drawCaloMap(boxes[0], url, p.hits, openCrystal(i), { title: `crystal hits, runs ${iv.first}-${iv.last}` }),
    drawCaloMap(boxes[1], url, p.pedestal, openCrystal(i)),
    drawCaloMap(boxes[2], url, p.out_of_fill, openCrystal(i)),
    drawObject(boxes[3], url, p.drift_time, { option: 'colz;nostat' }),
  ]);
}

async function main() {
  try {
    info = await api(`/api/datasets/${seg(ds)}/intervals`);
  } catch (e) {
    banner(e.message);
    return;
  }
  info.intervals.forEach((iv, i) => sel.append(el('option', { value: i, text: `runs ${iv.first}-${iv.last}` })));
  sel.addEventListener('change', draw);
  if (info.intervals.length) await draw();
  else document.getElementById('hists').append(el('p', { text: 'No interval has a merged file.' }));
}

main();
