// The production board: datasets x columns of a layout, one colour per state (the
// spreadsheet's), who/when/note on hover, a cell's history and its setting in a
// dialog. Polls /api/board/version every second and redraws when the board moved,
// so a change made in another browser shows within 2 s.

import { api, el, seg, whoami, ago, banner } from './common.js';

const table = document.getElementById('board');
const layoutSel = document.getElementById('layout');
const dialog = document.getElementById('cell');
const params = new URLSearchParams(location.search);
let layout = params.get('layout') || table.dataset.defaultLayout || 'gm2dqc';
// A site's own layout (serve --layout FILE) is offered beside the built-in two.
if (![...layoutSel.options].some((o) => o.value === layout)) layoutSel.append(el('option', { value: layout, text: layout }));
layoutSel.value = layout;
let version = null;
let view = null;
let open = null; // {dataset, column}

const STATES = [
  ['not_started', '-', 'not started'],
  ['todo', 'TODO', 'to do'],
  ['in_progress', 'In progress', 'someone works on it'],
  ['done', 'Done', 'done'],
  ['held', 'Held', 'held: waits for something (see its note)'],
  ['skipped', 'Skipped', 'not needed for this dataset'],
];

function legend() {
  const l = document.getElementById('legend');
  l.textContent = '';
  for (const [k, shown, what] of STATES) l.append(el('span', { class: `cell state-${k}`, title: what, text: shown }));
}

function hover(cell) {
  const e = cell.entry;
  let t = cell.shown;
  if (e) t += ` — ${e.user}@${e.host}, ${e.at} (${ago(e.at)})${e.note ? `: ${e.note}` : ''}`;
  for (const s of cell.stages || []) {
    t += `\n${s.stage}: ${s.state}${s.entry ? ` by ${s.entry.user} at ${s.entry.at}` : ''}`;
  }
  if (cell.signoff) t += `\nsigned off by ${cell.signoff.user} at ${cell.signoff.at}`;
  return t;
}

function render() {
  table.textContent = '';
  const cols = view.layout.columns;
  const thead = el('thead');
  if (cols.some((c) => c.group)) {
    const tr = el('tr', {}, el('th', {}));
    let i = 0;
    while (i < cols.length) {
      let j = i;
      while (j < cols.length && cols[j].group === cols[i].group) j++;
      tr.append(el('th', { colspan: j - i, class: 'group', text: cols[i].group || '' }));
      i = j;
    }
    thead.append(tr);
  }
  thead.append(el('tr', {}, el('th', { text: 'Dataset' }), cols.map((c) => el('th', { title: (c.stages || []).length ? `gm2dqc stages: ${c.stages.join(', ')}` : 'set by hand', text: c.title }))));
  table.append(thead);
  const tbody = el('tbody');
  for (const row of view.rows) {
    const tr = el('tr', { dataset: { dataset: row.dataset } }, el('th', { class: 'dataset' }, el('a', { href: `/datasets/${seg(row.dataset)}`, text: row.dataset }), row.held ? el('span', { class: 'held-mark', title: `held: ${row.held.note}`, text: 'held' }) : null));
    row.cells.forEach((c, i) => {
      tr.append(
        el('td', {
          class: `cell state-${c.state}`,
          title: hover(c),
          tabindex: 0,
          dataset: { column: c.column, state: c.state },
          onclick: () => openCell(row.dataset, cols[i], c),
          onkeydown: (ev) => {
            if (ev.key === 'Enter') openCell(row.dataset, cols[i], c);
          },
          text: c.shown,
        }),
      );
    });
    tbody.append(tr);
  }
  if (!view.rows.length) tbody.append(el('tr', {}, el('td', { colspan: cols.length + 1, text: 'No dataset on the board yet: `gm2dqc run` puts its dataset here.' })));
  table.append(tbody);
}

async function load() {
  view = await api(`/api/board?layout=${seg(layout)}`);
  render();
  if (open) refreshDialog();
}

async function poll() {
  try {
    const v = await api('/api/board/version');
    document.getElementById('live').className = 'live ok';
    if (v.version !== version) {
      version = v.version;
      await load();
    }
  } catch (e) {
    document.getElementById('live').className = 'live down';
  }
  setTimeout(poll, 1000);
}

function currentCell() {
  const row = view.rows.find((r) => r.dataset === open.dataset);
  return row && row.cells.find((c) => c.column === open.column.id);
}

// The poll and a save can both redraw the open dialog; only the newest redraw is shown, and it
// replaces the history in one step, so the table never holds two answers at once.
let dialogGeneration = 0;

async function refreshDialog() {
  const c = currentCell();
  if (!c) return;
  const generation = ++dialogGeneration;
  const target = open;
  document.getElementById('cell-now').textContent = `Now: ${c.shown}${c.entry ? ` — set by ${c.entry.user}@${c.entry.host} at ${c.entry.at}${c.entry.note ? `: ${c.entry.note}` : ''}` : ''}`;
  const so = document.getElementById('cell-signoff');
  so.textContent = (target.column.signoff || []).length
    ? `Done here is a sign-off: an expert other than whoever set ${target.column.signoff.join(' and ')} Done.${c.signoff ? ` Signed off by ${c.signoff.user} at ${c.signoff.at}.` : ''}`
    : '';
  let rows;
  try {
    const hist = await api(`/api/board/${seg(target.dataset)}/${seg(target.column.id)}/history?layout=${seg(layout)}`);
    rows = [el('tr', {}, ['When', 'State', 'Who', 'Note'].map((t) => el('th', { text: t })))];
    for (const e of hist.slice().reverse()) {
      rows.push(el('tr', {}, el('td', { text: e.at }), el('td', { class: `state-${e.state}`, text: e.state }), el('td', { text: `${e.user}@${e.host}${e.stage && (target.column.stages || []).length > 1 ? ` (${e.stage})` : ''}` }), el('td', { class: 'note', text: e.note })));
    }
  } catch (e) {
    rows = [el('tr', {}, el('td', { text: e.message }))];
  }
  if (generation !== dialogGeneration || open !== target) return;
  document.getElementById('cell-history').replaceChildren(...rows);
}

async function openCell(dataset, column, cell) {
  open = { dataset, column };
  // Another cell's history must not show, even for a moment, under this cell's title.
  document.getElementById('cell-history').replaceChildren();
  const w = await whoami();
  document.getElementById('cell-title').textContent = `${dataset} · ${column.title}`;
  document.getElementById('cell-error').textContent = '';
  document.getElementById('cell-note').value = '';
  const st = document.getElementById('cell-state');
  st.value = cell.state === 'not_started' ? 'todo' : cell.state;
  const canSet = w.role === 'shifter' || w.role === 'expert';
  for (const id of ['cell-state', 'cell-note', 'cell-save']) document.getElementById(id).disabled = !canSet;
  if (!canSet) document.getElementById('cell-error').textContent = w.user ? `${w.user} has the ${w.role} role: setting cells needs shifter or expert.` : 'Sign in to set cells.';
  await refreshDialog();
  if (!dialog.open) dialog.showModal();
}

document.getElementById('cell-save').addEventListener('click', async () => {
  const err = document.getElementById('cell-error');
  err.textContent = '';
  const state = document.getElementById('cell-state').value;
  const note = document.getElementById('cell-note').value;
  // The rules (Held needs a note, the sign-off) are the board's: the server says why it refuses.
  try {
    await api(`/api/board/${seg(open.dataset)}/${seg(open.column.id)}?layout=${seg(layout)}`, { method: 'POST', body: { state, note } });
    document.getElementById('cell-note').value = '';
    await load();
  } catch (e) {
    err.textContent = e.message;
  }
});
document.getElementById('cell-close').addEventListener('click', () => {
  open = null;
  dialog.close();
});
layoutSel.addEventListener('change', () => {
  layout = layoutSel.value;
  const u = new URL(location.href);
  u.searchParams.set('layout', layout);
  history.replaceState(null, '', u);
  load().catch((e) => banner(e.message));
});

legend();
poll();
