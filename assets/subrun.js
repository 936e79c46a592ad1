// One subrun: its flags with the reasons (value and bound), and its histograms drawn
// live by JSROOT from the subrun file.

import { api, el, seg, banner } from './common.js';
import { drawObject, drawCaloMap } from './hist.js';
import { box, fileUrl } from './views.js';

const root = document.getElementById('subrun');
const { dataset: ds, run, subrun } = root.dataset;

async function main() {
  let s;
  try {
    s = await api(`/api/datasets/${seg(ds)}/subruns/${run}/${subrun}`);
  } catch (e) {
    banner(e.message);
    return;
  }
  const t = document.getElementById('flags');
  t.append(el('tr', {}, el('th', { text: 'Flag' }), el('th', { text: 'Value' }), el('th', { text: 'Why' })));
  for (const [f, v] of Object.entries(s.row.flags || {})) {
    const why = (s.row.reason_list || []).filter((r) => r.flag === f).map((r) => r.text);
    t.append(el('tr', { class: v === false ? 'bad' : '' }, el('td', { text: f }), el('td', { class: v === null ? 'null' : v ? 'pass' : 'fail', text: v === null ? '—' : v ? '✓' : '✗' }), el('td', { text: why.join('; ') })));
  }
  t.append(el('tr', { class: s.row.ok ? '' : 'bad' }, el('th', { text: 'ok' }), el('td', { class: s.row.ok ? 'pass' : 'fail', text: s.row.ok ? '✓' : '✗' }), el('td', { text: s.row.reasons || '' })));
  const hists = document.getElementById('hists');
  if (!s.file) {
    hists.append(el('p', { text: 'The subrun file is not known to this analysis (no input list).' }));
    return;
  }
  const url = fileUrl(ds, 'input', s.file);
  const p = s.paths;
  // The boxes first, then every drawing at once.
  const jobs = [
    drawCaloMap(box(hists, 'map-pedestal', 'Pedestal RMS per crystal (click a crystal)'), url, p.pedestal, (c) => {
      if (c && c.calo) location.href = `/datasets/${seg(ds)}/crystals/${c.calo}/${c.xtal}`;
    }),
    drawObject(box(hists, 'drift', 'Tracker drift time per straw'), url, p.drift_time, { option: 'colz;nostat' }),
  ];
  for (const [id, title, path] of [['kicker', 'Kicker amplitude', p.kicker_amplitude], ['singles', 'Losses: singles', p.singles], ['sm', 'Laser source monitor', p.source_monitor]]) {
    if (path) jobs.push(drawObject(box(hists, id, title), url, path, { option: 'hist' }));
  }
  await Promise.all(jobs);
}

main();
