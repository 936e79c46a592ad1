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

function render(r) {
  const s = document.getElementById('summary');
  const t = document.getElementById('changes');
  const diag = document.getElementById('diagnostics');
  diag.textContent = '';
  t.textContent = '';
  if (!r.ok) {
    s.textContent = 'The cut file has problems:';
    for (const d of r.diagnostics) diag.append(el('div', { class: 'diagnostic', text: d.line ? `line ${d.line}, column ${d.column}: ${d.message}` : d.message || JSON.stringify(d) }));
    return;
  }
  const res = r.result;
  const changes = res.changes || [];
  const sum = res.summary || {};
  s.textContent = changes.length
    ? `${changes.length} flag change(s) in ${new Set(changes.map((c) => `${c.run}.${c.subrun}`)).size} subrun(s); CTAGs in good subruns ${fmt(sum.ctags_gained ?? res.ctags_gained)} gained, ${fmt(sum.ctags_lost ?? res.ctags_lost)} lost`
    : 'No subrun changes flag.';
  if (!changes.length) return;
  t.append(el('tr', {}, ['Subrun', 'Flag', 'Before', 'After', 'Metric', 'Value', 'Old bound', 'New bound', 'CTAGs'].map((h) => el('th', { text: h }))));
  for (const c of changes) {
    t.append(
      el(
        'tr',
        { 'data-run': c.run, 'data-subrun': c.subrun, 'data-flag': c.flag, class: 'change' },
        el('td', {}, el('a', { href: `/datasets/${seg(sel.value)}/subruns/${c.run}/${c.subrun}`, text: `${c.run}.${c.subrun}` })),
        el('td', { text: c.flag }),
        el('td', { class: c.old === false ? 'fail' : 'pass', text: fmt(c.old) }),
        el('td', { class: c.new === false ? 'fail' : 'pass', text: fmt(c.new) }),
        el('td', { text: c.metric || '' }),
        el('td', { class: 'num', text: fmt(c.value) }),
        el('td', { text: c.old_bound || '' }),
        el('td', { text: c.new_bound || '' }),
        el('td', { class: 'num', text: fmt(c.ctags) }),
      ),
    );
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
