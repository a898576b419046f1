/* tlink dashboard. No eval or inline handlers (CSP); events delegated */
(() => {
const d = document;
const all = (r, s) => [...(r.matches(s) ? [r] : []), ...r.querySelectorAll(s)];

let live; // aria-live region
const say = (msg) => {
  if (!live?.isConnected) {
    live = Object.assign(d.createElement('div'), { className: 'sr-only' });
    live.setAttribute('aria-live', 'polite');
    d.body.append(live);
  }
  if (msg) { live.textContent = ''; setTimeout(() => (live.textContent = msg), 60); }
};

// time[datetime]: local text, UTC title
const fmts = {};
const fmt = (p) => fmts[p] || (fmts[p] = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: p ? 'medium' : 'short' }));
const times = (root) => {
  for (const t of all(root, 'time[datetime]')) {
    let v = t.getAttribute('datetime').trim();
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) continue;
    if (!/(z|[+-]\d\d:?\d\d)$/i.test(v)) v += 'Z';
    const w = new Date(v);
    if (isNaN(w)) continue;
    t.textContent = fmt(t.hasAttribute('data-precise')).format(w);
    t.title = w.toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
  }
};

// select-all / needs-selection, per form
const boxes = (f) => [...f.elements].filter((e) => e.type === 'checkbox' && e.name === 'ids');
const sync = (f) => {
  const b = boxes(f), n = b.filter((x) => x.checked).length;
  for (const e of f.elements) {
    if (e.hasAttribute('data-select-all')) {
      e.checked = n > 0 && n === b.length;
      e.indeterminate = n > 0 && n < b.length;
    } else if (e.hasAttribute('data-needs-selection')) e.disabled = !n;
  }
};
const syncAll = (root) => {
  const fs = new Set([root.closest('form')]);
  for (const e of all(root, '[data-select-all],[data-needs-selection],[name=ids]')) fs.add(e.form);
  fs.forEach((f) => f && sync(f));
};

const copy = async (btn) => {
  const src = d.querySelector(btn.dataset.copy);
  if (!src) return;
  try { await navigator.clipboard.writeText(src.textContent.trim()); } catch (_) {
    const sel = getSelection();
    sel.selectAllChildren(src);
    if (!d.execCommand('copy')) return say('Copy failed: text selected');
    sel.removeAllRanges();
  }
  if (btn.dataset.label === undefined) btn.dataset.label = btn.textContent;
  btn.textContent = 'Copied';
  clearTimeout(btn.t);
  btn.t = setTimeout(() => (btn.textContent = btn.dataset.label), 2000);
  say('Copied to clipboard');
};

const download = async (btn) => {
  const name = btn.dataset.filename || 'download.json';
  btn.disabled = true;
  try {
    const res = await fetch(btn.dataset.downloadJson, { credentials: 'same-origin' });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const url = URL.createObjectURL(await res.blob());
    Object.assign(d.createElement('a'), { href: url, download: name }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say('Downloaded ' + name);
  } catch (err) {
    say('Download failed: ' + err.message);
  } finally {
    btn.disabled = false;
  }
};

d.addEventListener('click', (e) => {
  const b = e.target.closest('button[data-copy],button[data-download-json],[data-expand-all],[data-collapse-all]');
  if (!b || b.disabled) return;
  e.preventDefault();
  if (b.hasAttribute('data-copy')) return copy(b);
  if (b.hasAttribute('data-download-json')) return download(b);
  const open = b.hasAttribute('data-expand-all');
  const s = b.getAttribute(open ? 'data-expand-all' : 'data-collapse-all') || b.dataset.target;
  const root = s ? d.querySelector(s) : b.closest('.json-tree');
  if (root) for (const x of all(root, 'details')) x.open = open;
});

// rule editor: only the operators that fit the chosen field's JSON type
// (on load the saved operator stays selectable even if it does not fit)
const fitOperators = (input, initial) => {
  const sel = d.getElementById(input.dataset.operators);
  if (!sel || !input.list) return;
  const opt = [...input.list.options].find((o) => o.value === input.value.trim());
  const kind = opt?.dataset.kind || '';
  for (const o of sel.options) {
    const k = o.dataset.kinds;
    o.disabled = !!(k && kind && kind !== 'any' && !k.split(' ').includes(kind)) && !(initial && o.selected);
  }
  if (sel.selectedOptions[0]?.disabled) {
    const first = [...sel.options].find((o) => !o.disabled);
    if (first) first.selected = true;
  }
  const hint = d.getElementById(input.dataset.kindHint);
  const text = kind ? `Field type: ${kind}; the operators that fit it are offered.` : '';
  if (hint && hint.textContent !== text) hint.textContent = text;
};
// rule editor: the alert's message as it will read, as the condition is typed (as the server words it)
const preview = (form) => {
  const out = form && d.getElementById('rule-preview');
  const op = form?.elements.operator;
  if (!out || !op) return;
  const field = form.elements.field.value.trim() || '<field>';
  const value = form.elements.value.value.trim();
  const symbol = op.selectedOptions[0]?.dataset.symbol || '?';
  out.textContent = `${field} ${symbol}${value ? ' ' + value : ''} (actual: …)`;
};
d.addEventListener('input', (e) => {
  if (e.target.matches?.('input[data-operators]')) fitOperators(e.target);
  if (e.target.form?.id === 'rule-form') preview(e.target.form);
});

d.addEventListener('change', (e) => {
  const t = e.target, f = t.form;
  if (!f) return;
  if (t.matches('[data-select-all]')) {
    for (const b of boxes(f)) if (!b.disabled) b.checked = t.checked;
    sync(f);
  } else if (t.name === 'ids') sync(f);
  else if (t.matches('select[data-autosubmit]')) f.requestSubmit();
  else if (f.id === 'rule-form') preview(f);
});

// capture: before htmx's submit listener
d.addEventListener('submit', (e) => {
  const msg = e.submitter?.dataset.confirm || e.target.dataset.confirm;
  if (msg && !confirm(msg)) { e.preventDefault(); e.stopImmediatePropagation(); }
}, true);

// data-keep-checked: ticked rows survive a swap
d.addEventListener('htmx:beforeSwap', (e) => {
  const t = e.detail.target;
  if (t?.hasAttribute('data-keep-checked')) t.kept = all(t, 'input[name=ids]:checked').map((b) => b.value);
});
d.addEventListener('htmx:afterSwap', (e) => {
  const t = e.detail.target, k = t?.kept;
  if (k) for (const b of all(t, 'input[name=ids]')) if (k.includes(b.value)) b.checked = true;
});

d.addEventListener('htmx:configRequest', (e) => {
  const m = d.querySelector('meta[name="csrf-token"]');
  if (m?.content) e.detail.headers['X-CSRF-Token'] = m.content;
});

const init = (root) => {
  if (!root) return;
  say(); times(root); syncAll(root);
  for (const i of all(root, 'input[data-operators]')) fitOperators(i, true);
};
const start = () => init(d.body);
if (window.htmx) htmx.onLoad(init); // also runs for <body>
else if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', start);
else start();
addEventListener('pageshow', (e) => { if (e.persisted) syncAll(d.body); });
})();
