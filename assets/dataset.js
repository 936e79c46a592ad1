// A dataset: its runs, the subruns table (flags, ok, reasons with value and bound;
// failing first; sortable, filterable, paged by the server so 20,000 subruns stay
// fast), the bad channels and the standard plots grouped as the checklist groups
// them. Every run, subrun and channel is a link.

import { api, el, seg, banner } from './common.js';

const root = document.getElementById('dataset');
const ds = root.dataset.dataset;
const base = `/datasets/${seg(ds)}`;
const params = new URLSearchParams(location.search);
const state = {
  page: 1,
  per_page: 100,
  sort: params.get('sort') || 'run_subrun',
  desc: params.get('desc') === 'true',
  run: params.get('run') || '',
  flag: params.get('flag') || '',
  only_bad: params.get('only_bad') === 'true',
  text: params.get('text') || '',
};
let flags = [];

const fmt = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v));

function flagCell(v) {
  if (v === null || v === undefined) return el('td', { class: 'null', title: 'not judged (metric missing)', text: '—' });
  return el('td', { class: v ? 'pass' : 'fail', text: v ? '✓' : '✗' });
}

function reasonItem(r) {
  if (typeof r === 'string') return el('li', { text: r });
  return el('li', { class: 'reason', 'data-flag': r.flag, title: `metric ${r.metric}, value ${fmt(r.value)}, test ${r.test}`, text: r.text });
}

function runsTable(o) {
  const t = document.getElementById('runs');
  t.textContent = '';
  const runs = o.runs || [];
  if (!runs.length) return;
  // The run first, then its counts, then the pass fractions (the API's keys come sorted by name).
  const all = Object.keys(runs[0]).filter((k) => k !== 'cuts_sha256');
  const first = ['run', 'subruns', 'good_subruns', 'ctags', 'ctags_good'].filter((k) => all.includes(k));
  const keys = [...first, ...all.filter((k) => !first.includes(k))];
  t.append(el('tr', {}, keys.map((k) => el('th', { text: k.replaceAll('_', ' ') }))));
  for (const r of runs) {
    t.append(
      el(
        'tr',
        {},
        keys.map((k) =>
          k === 'run'
            ? el('td', {}, el('a', { href: `${base}?run=${r.run}`, 'data-run': r.run, text: r.run, onclick: (ev) => { ev.preventDefault(); document.getElementById('f-run').value = r.run; state.run = String(r.run); state.page = 1; loadSubruns(); } }))
            : el('td', { class: typeof r[k] === 'number' ? 'num' : '', text: typeof r[k] === 'number' && !Number.isInteger(r[k]) ? r[k].toFixed(3) : fmt(r[k]) }),
        ),
      ),
    );
  }
}

function channels(o) {
  const box = document.getElementById('channels');
  box.textContent = '';
  const bc = o.bad_channels || {};
  const calo = bc.calo || [];
  const straws = bc.tracker || [];
  if (!calo.length && !straws.length) {
    box.append(el('p', { text: 'No dead, hot or noisy channel.' }));
    return;
  }
  if (calo.length) {
    const t = el('table', { class: 'data', id: 'bad-crystals' }, el('tr', {}, ['Crystal', 'Status', 'Intervals', 'Detail'].map((h) => el('th', { text: h }))));
    for (const c of calo) {
      t.append(el('tr', { class: `status-${c.status}` }, el('td', {}, el('a', { href: `${base}/crystals/${c.calo}/${c.xtal}`, class: 'crystal-link', text: `calo ${c.calo} xtal ${c.xtal}` })), el('td', { text: c.status }), el('td', { text: (c.intervals || []).join(', ') }), el('td', { text: c.detail || '' })));
    }
    box.append(el('h3', { text: `Crystals (${calo.length})` }), t);
  }
  if (straws.length) {
    const t = el('table', { class: 'data', id: 'bad-straws' }, el('tr', {}, ['Straw', 'Status', 'Intervals', 'Detail'].map((h) => el('th', { text: h }))));
    for (const s of straws) {
      t.append(el('tr', {}, el('td', {}, el('a', { href: `${base}/histograms#straw-${s.module}-${s.straw}`, text: `module ${s.module} straw ${s.straw}` })), el('td', { text: s.status }), el('td', { text: (s.intervals || []).join(', ') }), el('td', { text: s.detail || '' })));
    }
    box.append(el('h3', { text: `Straws (${straws.length})` }), t);
  }
}

function plots(o) {
  const box = document.getElementById('plots');
  box.textContent = '';
  for (const g of o.plots || []) {
    const grid = el('div', { class: 'plots' });
    for (const p of g.plots) {
      const src = `/files/${seg(ds)}/out/${p.png.split('/').map(seg).join('/')}`;
      const svg = p.svg ? `/files/${seg(ds)}/out/${p.svg.split('/').map(seg).join('/')}` : src;
      grid.append(el('figure', {}, el('a', { href: svg, target: '_blank' }, el('img', { src, alt: p.title, loading: 'lazy' })), el('figcaption', { text: p.title })));
    }
    box.append(el('h3', { text: g.group }), grid);
  }
  if (!(o.plots || []).length) box.append(el('p', { text: 'No plots: the plots stage has not run for this directory.' }));
}

function header(t) {
  const cols = [['run_subrun', 'Run.subrun'], ...flags.map((f) => [f, f]), ['ok', 'ok'], ['reasons', 'Reasons']];
  t.append(
    el(
      'tr',
      {},
      cols.map(([k, label]) =>
        el('th', {
          'data-sort': k,
          class: state.sort === k ? (state.desc ? 'sorted-desc' : 'sorted-asc') : '',
          title: 'sort by this column (again: reverse)',
          onclick: () => {
            state.desc = state.sort === k ? !state.desc : false;
            state.sort = k;
            state.page = 1;
            loadSubruns();
          },
          text: label,
        }),
      ),
    ),
  );
}

function query() {
  const q = new URLSearchParams({ page: state.page, per_page: state.per_page, sort: state.sort, desc: state.desc });
  if (state.run) q.set('run', state.run);
  if (state.flag) q.set('flag_failed', state.flag);
  if (state.only_bad) q.set('only_bad', 'true');
  if (state.text) q.set('text', state.text);
  return q;
}

async function loadSubruns() {
  let p;
  try {
    p = await api(`/api/datasets/${seg(ds)}/subruns?${query()}`);
  } catch (e) {
    banner(e.message);
    return;
  }
  const t = document.getElementById('subruns');
  t.textContent = '';
  header(t);
  for (const r of p.rows) {
    const fl = r.flags || {};
    t.append(
      el(
        'tr',
        { class: r.ok === false ? 'bad' : '', 'data-run': r.run, 'data-subrun': r.subrun, 'data-ok': String(r.ok) },
        el('td', {}, el('a', { href: `${base}/subruns/${r.run}/${r.subrun}`, class: 'subrun-link', text: `${r.run}.${r.subrun}` })),
        flags.map((f) => flagCell(Array.isArray(fl) ? fl[flags.indexOf(f)] : fl[f])),
        flagCell(r.ok),
        el('td', { class: 'reasons-cell' }, (r.reason_list || []).length ? el('ul', { class: 'reasons' }, r.reason_list.map(reasonItem)) : ''),
      ),
    );
  }
  document.getElementById('count').textContent = `${p.matched} of ${p.total} subruns`;
  const pages = Math.max(1, p.pages);
  const pager = document.getElementById('pager');
  pager.textContent = '';
  const go = (n) => () => {
    state.page = n;
    loadSubruns();
  };
  pager.append(
    el('button', { type: 'button', id: 'prev', disabled: p.page <= 1, onclick: go(p.page - 1), text: '‹ previous' }),
    el('span', { text: `page ${p.page} of ${pages}` }),
    el('button', { type: 'button', id: 'next', disabled: p.page >= pages, onclick: go(p.page + 1), text: 'next ›' }),
  );
}

function bindFilters() {
  const run = document.getElementById('f-run');
  const flag = document.getElementById('f-flag');
  const bad = document.getElementById('f-bad');
  const text = document.getElementById('f-text');
  run.value = state.run;
  bad.checked = state.only_bad;
  text.value = state.text;
  for (const f of flags) flag.append(el('option', { value: f, text: f }));
  flag.value = state.flag;
  let timer = null;
  const changed = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      Object.assign(state, { run: run.value.trim(), flag: flag.value, only_bad: bad.checked, text: text.value.trim(), page: 1 });
      loadSubruns();
    }, 200);
  };
  for (const e of [run, flag, bad, text]) e.addEventListener('input', changed);
}

async function main() {
  let o;
  try {
    o = await api(`/api/datasets/${seg(ds)}`);
  } catch (e) {
    banner(e.message);
    return;
  }
  const r = o.results;
  flags = r.flags || [];
  document.getElementById('provenance').textContent = `Results in ${o.dirs.out} (from ${o.dirs.source}); input ${r.input || '?'}; cut file ${r.cuts_sha256 ? r.cuts_sha256.slice(0, 12) : '?'}${r.reference_run ? `; reference run ${r.reference_run}` : ''}`;
  runsTable(r);
  channels(r);
  plots(r);
  bindFilters();
  await loadSubruns();
}

main();
