// The audit log: every write through the web application, newest first.
import { api, el } from './common.js';

const t = document.getElementById('audit');
const log = await api('/api/audit?limit=500');
t.append(el('tr', {}, ['When', 'Who', 'Role', 'Action', 'Target', 'Detail', 'From'].map((h) => el('th', { text: h }))));
for (const e of log) {
  t.append(el('tr', {}, el('td', { text: e.at || e.at_us }), el('td', { text: e.user_name ?? e.user }), el('td', { text: e.role }), el('td', { text: e.action }), el('td', { text: e.target }), el('td', { class: 'note', text: e.detail }), el('td', { text: e.remote })));
}
