// The conditions tags; an expert locks one (after a confirmation: it cannot be undone).
import { api, el, seg, whoami } from './common.js';

const t = document.getElementById('tags');
const err = document.getElementById('tag-error');

async function load() {
  const [w, tags] = await Promise.all([whoami(), api('/api/tags')]);
  t.textContent = '';
  t.append(el('tr', {}, ['Tag', 'Description', 'Intervals', 'Created', 'Locked', ''].map((h) => el('th', { text: h }))));
  for (const g of tags) {
    const lock = g.locked || w.role !== 'expert'
      ? ''
      : el('button', {
          type: 'button',
          class: 'lock',
          'data-tag': g.name,
          text: 'Lock',
          onclick: async () => {
            if (!confirm(`Lock tag ${g.name}? It will accept no more uploads, for good.`)) return;
            err.textContent = '';
            try {
              await api(`/api/tags/${seg(g.name)}/lock`, { method: 'POST' });
            } catch (e) {
              err.textContent = e.message;
            }
            load();
          },
        });
    const when = (us) => (us ? new Date(us / 1000).toISOString() : '');
    t.append(el('tr', { 'data-tag': g.name }, el('td', { text: g.name }), el('td', { text: g.description }), el('td', { class: 'num', text: g.iovs }), el('td', { text: when(g.created_at_us) }), el('td', { class: 'locked', text: g.locked ? `locked ${when(g.locked_at_us)}` : 'open' }), el('td', {}, lock)));
  }
}

load().catch((e) => {
  err.textContent = e.message;
});
