// Shared by every page: who is signed in, the CSRF token, JSON calls that say what
// went wrong, and building elements from text (never from HTML strings, so a note
// or a name holding markup is shown as text).

let whoPromise = null;

/** The signed-in user: {user, role, csrf, anonymous_read, layout}. */
export function whoami() {
  if (!whoPromise) {
    whoPromise = fetch('/api/whoami', { credentials: 'same-origin' }).then((r) => (r.ok ? r.json() : { user: null, role: null, csrf: null }));
  }
  return whoPromise;
}

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** A URL path segment. */
export const seg = (s) => encodeURIComponent(String(s));

/** Shows (or clears) the banner at the top of the page. */
export function banner(text, kind = 'error') {
  const b = document.getElementById('banner');
  if (!b) return;
  if (!text) {
    b.hidden = true;
    b.textContent = '';
    return;
  }
  b.className = `banner ${kind}`;
  b.textContent = text;
  b.hidden = false;
}

/** An error of the API, with its status and message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * A JSON call. Writes carry the CSRF token. A 503 (the database is down) shows
 * the banner and is thrown; the caller may retry.
 */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') {
    const w = await whoami();
    if (w.csrf) headers['X-CSRF-Token'] = w.csrf;
    headers['Content-Type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    banner('The server cannot be reached; retrying…');
    throw new ApiError(0, 'the server cannot be reached');
  }
  let j = null;
  try {
    j = await r.json();
  } catch (e) {
    j = null;
  }
  if (r.status === 503) {
    // The server's message says what is down and that the page retries.
    banner((j && j.error) || 'The conditions database is not available now; the page retries by itself.');
  } else if (r.ok) {
    const b = document.getElementById('banner');
    if (b && b.classList.contains('error')) banner(null);
  }
  if (!r.ok) throw new ApiError(r.status, (j && j.error) || `${r.status} ${r.statusText}`);
  return j;
}

/** "12 s ago", "3 h ago" from an ISO time. */
export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

async function showWho() {
  const box = document.getElementById('who');
  if (!box) return;
  const w = await whoami();
  box.textContent = '';
  if (w.user) {
    box.append(el('span', { class: 'user', id: 'user', text: `${w.user} (${w.role})` }), ' ');
    box.append(
      el('button', {
        type: 'button',
        id: 'sign-out',
        text: 'Sign out',
        onclick: async () => {
          await api('/logout', { method: 'POST' }).catch(() => {});
          location.reload();
        },
      }),
    );
  } else {
    box.append(el('a', { href: `/login?next=${encodeURIComponent(location.pathname + location.search)}`, id: 'sign-in-link', text: 'Sign in' }));
  }
}

showWho();
