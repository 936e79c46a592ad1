// Shared by the histogram pages: a titled box to draw into, and file URLs.
import { el, seg } from './common.js';

/** The URL of a file of a dataset: root `out` (merged files) or `input` (subrun files). */
export function fileUrl(dataset, root, rel) {
  return `/files/${seg(dataset)}/${root}/${String(rel).split('/').map(seg).join('/')}`;
}

/** A box with a heading and a drawing area; returns the drawing area. */
export function box(parent, id, title, note) {
  const d = el('div', { class: 'draw', id });
  parent.append(el('div', { class: 'hist', id: `${id}-box` }, el('h3', { text: title }), note ? el('p', { class: 'hint', text: note }) : null, d));
  return d;
}
