// Cut tuning: edit a bound and see, as you type, which subruns change flag and why
// (the `gm2dqc cuts diff` engine on the server: value, old bound, new bound, CTAGs
// gained and lost); save the result as a new named cut file (never replacing one),
// its SHA-256 shown, ready for `gm2dqc dqc --cuts`.

import { api, el, seg, whoami } from './common.js';

const sel = document.getElementById('dataset');
const text = document.getElementById('text');
const params = new URLSearchParams(location.search);
let timer = null;
let seq = 0;

const fmt = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : String(v));

async function loadBase() {
  const d = sel.value;
  if (!d) return;
  const b = await api(`/api/datasets/${seg(d)}/cuts`);
  document.getElementById('base').textContent = `base: ${b.source || 'the cut file of the dqc stage'} (SHA-256 ${String(b.sha256 || '').slice(0, 16)}…)`;
  text.value = b.text;
  await tune();
}

function flagCounts(res) {
  const box = document.getElementById('flag-counts');
  box.textContent = '';
  const fc = res.flag_counts || [];
  if (!fc.length) return;
  box.append(el('tr', {}, ['Flag', 'Failing before', 'Failing after', 'Change'].map((h) => el('th', { text: h }))));
  for (const f of fc) {
    const d = f.new_failing - f.old_failing;
    box.append(
      el(
        'tr',
        { class: d ? 'changed' : '', 'data-flag': f.flag },
        el('td', { text: f.flag }),
        el('td', { class: 'num', text: fmt(f.old_failing) }),
        el('td', { class: 'num', text: fmt(f.new_failing) }),
        el('td', { class: `num ${d > 0 ? 'fail' : d < 0 ? 'pass' : ''}`, text: d ? (d > 0 ? `+${d}` : String(d)) : '' }),
      ),
    );
  }
}

const okText = (v) => (v === null || v === undefined ? '—' : v ? 'pass' : 'fail');
const okClass = (v) => (v === null || v === undefined ? 'null' : v ? 'pass' : 'fail');

function render(r) {
  const s = document.getElementById('summary');
  const t = document.getElementById('changes');
  const diag = document.getElementById('diagnostics');
  diag.textContent = '';
  t.textContent = '';
  document.getElementById('flag-counts').textContent = '';
  if (!r.ok) {
    s.textContent = 'The cut file has problems:';
    for (const d of r.diagnostics || []) diag.append(el('div', { class: 'diagnostic', text: d.line ? `line ${d.line}, column ${d.column}: ${d.message}` : d.message || JSON.stringify(d) }));
    return;
  }
  const res = r.result;
  const changes = res.changes || [];
  const nflags = changes.reduce((n, c) => n + (c.flags || []).length, 0);
  s.textContent = changes.length
    ? `${changes.length} subrun(s) change, ${nflags} flag change(s); good subruns ${fmt(res.old_good)} → ${fmt(res.new_good)} (${fmt(res.gained)} gained, ${fmt(res.lost)} lost); CTAGs in good subruns ${fmt(res.ctags_gained)} gained, ${fmt(res.ctags_lost)} lost.`
    : `No subrun changes flag (${fmt(res.subruns)} subruns, ${fmt(res.old_good)} good).`;
  flagCounts(res);
  if (!changes.length) return;
  t.append(el('tr', {}, ['Subrun', 'ok', 'Flag', 'Before', 'After', 'Metric', 'Value', 'Old bound', 'New bound', 'CTAGs gained', 'CTAGs lost'].map((h) => el('th', { text: h }))));
  for (const c of changes) {
    const link = `/datasets/${seg(sel.value)}/subruns/${c.run}/${c.subrun}`;
    const gained = c.ctags_change > 0 ? c.ctags_change : null;
    const lost = c.ctags_change < 0 ? -c.ctags_change : null;
    const fl = c.flags || [];
    fl.forEach((f, i) => {
      const cuts = (f.cuts || []).length ? f.cuts : [{}];
      const cell = (k, cls, show = (v) => v) => el('td', { class: cls }, cuts.flatMap((x, j) => [j ? el('br') : null, show(x[k]) ?? '']));
      const first = i === 0;
      t.append(
        el(
          'tr',
          { 'data-run': c.run, 'data-subrun': c.subrun, 'data-flag': f.flag, class: `change${first ? ' first' : ''}`, title: c.new_reasons ? `after: ${c.new_reasons}` : 'after: ok' },
          el('td', {}, first ? el('a', { href: link, class: 'subrun-link', text: `${c.run}.${c.subrun}` }) : ''),
          el('td', { class: first ? okClass(c.new_ok) : '', text: first ? `${okText(c.old_ok)} → ${okText(c.new_ok)}` : '' }),
          el('td', { text: f.flag }),
          el('td', { class: okClass(f.old), text: okText(f.old) }),
          el('td', { class: okClass(f.new), text: okText(f.new) }),
          cell('metric', ''),
          cell('value', 'num', (v) => (v === undefined ? '' : fmt(v))),
          cell('old_test', 'bound old'),
          cell('new_test', 'bound new'),
          el('td', { class: 'num pass', text: first && gained !== null ? fmt(gained) : '' }),
          el('td', { class: 'num fail', text: first && lost !== null ? fmt(lost) : '' }),
        ),
      );
    });
  }
}

async function tune() {
  const mine = ++seq;
  try {
    const r = await api(`/api/datasets/${seg(sel.value)}/tune`, { method: 'POST', body: { text: text.value } });
    if (mine === seq) render(r);
  } catch (e) {
    if (mine === seq) document.getElementById('summary').textContent = e.message;
  }
}

text.addEventListener('input', () => {
  clearTimeout(timer);
  timer = setTimeout(tune, 250);
});

document.getElementById('save').addEventListener('click', async () => {
  const out = document.getElementById('saved');
  const err = document.getElementById('save-error');
  out.textContent = '';
  err.textContent = '';
  try {
    const s = await api('/api/cuts', { method: 'POST', body: { name: document.getElementById('name').value, text: text.value } });
    out.textContent = `Saved ${s.path} — SHA-256 ${s.sha256}. Use it with: gm2dqc dqc --out OUT --cuts ${s.path}`;
  } catch (e) {
    err.textContent = e.message;
  }
});

async function main() {
  const w = await whoami();
  if (w.role !== 'expert') {
    document.getElementById('save').disabled = true;
    document.getElementById('save-error').textContent = 'Saving a cut file needs the expert role; tuning is open to all.';
  }
  const list = await api('/api/datasets');
  for (const d of list) if (d.out && !d.problem) sel.append(el('option', { value: d.dataset, text: d.dataset }));
  if (params.get('dataset')) sel.value = params.get('dataset');
  sel.addEventListener('change', loadBase);
  await loadBase();
}

main();
