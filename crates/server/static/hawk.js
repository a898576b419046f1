/* tlink: the Hawk self-test of the application keys page. The key typed in stays in this page: it signs
   GET /help/hawk/self-test with WebCrypto (HMAC-SHA256) and only the signature is sent. No inline code (CSP).
   Outside a browser (no document) the pure functions are exported as globalThis.tlinkHawk, for tests. */
((root) => {
'use strict';

const enc = new TextEncoder();

// What a header attribute may carry (crates/domain/src/hawk.rs): no `"`, no `\`, printable ASCII.
const ATTRIBUTE = /^[ \w!#$%&'()*+,\-./:;<=>?@[\]^`{|}~]*$/;

// The normalized string of a MAC of `kind` ('header', 'response'): hawk.1.<kind>, ts, nonce, METHOD,
// resource, host, port, payload hash (empty without one), ext (`\` and newline escaped); a line each.
const normalized = (kind, a) => [
  `hawk.1.${kind}`, a.ts, a.nonce, a.method.toUpperCase(), a.resource, a.host.toLowerCase(), a.port,
  a.hash || '', (a.ext || '').replace(/\\/g, '\\\\').replace(/\n/g, '\\n'),
].join('\n') + '\n';

// `Hawk id="…", ts="…", nonce="…"[, hash="…"][, ext="…"], mac="…"`, as the reference client writes it.
const header = (id, a, mac) => {
  const attrs = [['id', id], ['ts', a.ts], ['nonce', a.nonce]];
  if (a.hash) attrs.push(['hash', a.hash]);
  if (a.ext) attrs.push(['ext', a.ext]);
  attrs.push(['mac', mac]);
  for (const [k, v] of attrs) {
    if (!ATTRIBUTE.test(String(v))) throw new Error(`the Hawk ${k} holds a character a header cannot carry`);
  }
  return 'Hawk ' + attrs.map(([k, v]) => `${k}="${v}"`).join(', ');
};

const base64 = (buf) => {
  let s = '';
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s);
};

// base64(HMAC-SHA256(key, text)); the key is the API key's bytes.
const hmac = async (subtle, key, text) => {
  const k = await subtle.importKey('raw', enc.encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return base64(await subtle.sign('HMAC', k, enc.encode(text)));
};

// The Authorization header for artifacts `a` (ts, nonce, method, resource, host, port, hash?, ext?).
const sign = async (subtle, id, key, a) => header(id, a, await hmac(subtle, key, normalized('header', a)));

// base64(SHA-256("hawk.1.payload\n<media type>\n<body>\n")).
const payloadHash = async (subtle, contentType, bytes) => {
  const type = (contentType || '').split(';')[0].trim().toLowerCase();
  const head = enc.encode(`hawk.1.payload\n${type}\n`);
  const all = new Uint8Array(head.length + bytes.length + 1);
  all.set(head);
  all.set(bytes, head.length);
  all[all.length - 1] = 10;
  return base64(await subtle.digest('SHA-256', all));
};

// `Hawk mac="…", hash="…"` → { mac, hash }.
const attributes = (value) => {
  const out = {};
  if (!/^hawk\s/i.test(value || '')) return out;
  for (const m of value.slice(5).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2].replace(/\\(.)/g, '$1');
  return out;
};

// Whether Server-Authorization signs this answer to the request `a`: its hash is the body's, and its mac is
// the response MAC over the request's ts, nonce, method, resource, host and port with that hash and ext.
const answerSigned = async (subtle, key, a, serverAuthorization, contentType, bytes) => {
  const s = attributes(serverAuthorization);
  if (!s.mac || !s.hash) return false;
  if (s.hash !== await payloadHash(subtle, contentType, bytes)) return false;
  return s.mac === await hmac(subtle, key, normalized('response', { ...a, hash: s.hash, ext: s.ext }));
};

const api = { normalized, header, sign, payloadHash, attributes, answerSigned };
if (typeof document === 'undefined') {
  root.tlinkHawk = api;
  return;
}

const d = document;
const form = d.getElementById('hawk-test');
const out = d.getElementById('hawk-result');
if (!form || !out) return;
const input = d.getElementById('hawk-key');
const button = d.getElementById('hawk-test-button');
const PATH = '/help/hawk/self-test';

const show = (kind, title, lines = []) => {
  const box = Object.assign(d.createElement('div'), { className: `flash ${kind}` });
  box.append(Object.assign(d.createElement('strong'), { textContent: title }));
  for (const line of lines) box.append(Object.assign(d.createElement('p'), { textContent: line }));
  out.replaceChildren(box);
};

const HINTS = {
  'Bad mac': 'The signature does not match any of your live keys: paste the whole key, and check that it was not revoked or replaced.',
  'Unknown credentials': 'You have no live API key: create one on the API keys page first.',
  'Stale timestamp': "This computer's clock is more than a minute away from the server's: set it right and try again.",
  'Invalid nonce': 'The same signature was sent twice: try again.',
  'Unknown organization in ext': 'You are no longer a member of this organization.',
};

const nonce = () => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...crypto.getRandomValues(new Uint8Array(12))].map((b) => abc[b % abc.length]).join('');
};

const test = async () => {
  const key = input.value.trim();
  if (!key) {
    input.setAttribute('aria-invalid', 'true');
    show('error', 'Paste an API key first.');
    input.focus();
    return;
  }
  input.removeAttribute('aria-invalid');
  const subtle = root.isSecureContext && root.crypto && root.crypto.subtle;
  if (!subtle) {
    show('error', 'This browser cannot sign here.', [
      'WebCrypto is only available on secure pages: this dashboard is served over plain HTTP from another computer. ' +
      'Open it over HTTPS (or on localhost), or test with the Python or Node example above.',
    ]);
    return;
  }
  const a = {
    ts: String(Math.floor(Date.now() / 1000)),
    nonce: nonce(),
    method: 'GET',
    resource: PATH,
    host: location.hostname.replace(/^\[|\]$/g, ''),
    port: location.port ? Number(location.port) : (location.protocol === 'https:' ? 443 : 80),
    ext: form.dataset.hawkExt,
  };
  let authorization;
  try {
    authorization = await sign(subtle, form.dataset.hawkId, key, a);
  } catch (err) {
    show('error', 'Could not sign the request.', [err.message]);
    return;
  }
  let res;
  let bytes;
  try {
    res = await fetch(PATH, {
      headers: { Authorization: authorization, Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
    });
    bytes = new Uint8Array(await res.arrayBuffer());
  } catch (err) {
    show('error', 'The request did not reach tlink.', [err.message]);
    return;
  }
  let doc = null;
  try { doc = JSON.parse(new TextDecoder().decode(bytes)); } catch (_) { /* not JSON: said below */ }
  if (res.ok && doc && doc.success === true) {
    let signed;
    try {
      signed = await answerSigned(subtle, key, a, res.headers.get('Server-Authorization'),
        res.headers.get('Content-Type'), bytes);
    } catch (_) {
      signed = false;
    }
    show('ok', 'Hawk works with this key.', [
      `Signed in as user ${doc.userId} in organization ${doc.organizationId}.`,
      signed ? "tlink's signature on the answer (Server-Authorization) checks out."
        : "But tlink's signature on the answer (Server-Authorization) did not check out.",
    ]);
    return;
  }
  const errors = doc && Array.isArray(doc.errors) ? doc.errors.map(String) : [];
  const lines = [errors.length ? errors.join('; ') : `The answer was not the self-test's (${bytes.length} bytes).`];
  for (const e of errors) if (HINTS[e]) lines.push(HINTS[e]);
  if (res.status === 429) lines.push('Too many requests: wait a minute and try again.');
  show('error', res.ok ? 'tlink gave an unexpected answer.' : `Hawk refused: ${res.status} ${res.statusText}`.trim(), lines);
};

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (button.disabled) return;
  button.disabled = true;
  out.setAttribute('aria-busy', 'true');
  try {
    await test();
  } catch (err) {
    show('error', 'The test failed.', [err.message]);
  } finally {
    button.disabled = false;
    out.removeAttribute('aria-busy');
  }
});
})(globalThis);
