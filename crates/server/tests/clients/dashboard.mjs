// Browser journeys through tlink's dashboard (server-rendered pages at `/`), driven by a headless Chromium
// through playwright-core, with axe-core for accessibility. No test framework: each journey is a function,
// `check(cond, message)` stops the run at the first failure, and the exit code says whether all passed.
//
//   node dashboard.mjs
//
// Environment:
//   TLINK_URL                  the server, e.g. http://127.0.0.1:18080
//   TLINK_EMAIL, TLINK_PASSWORD               an OWNER of TLINK_ORG (member of no other org that sorts first)
//   TLINK_VIEWER_EMAIL, TLINK_VIEWER_PASSWORD a VIEWER member of TLINK_ORG
//   TLINK_ORG                  the organization the journeys work in (it should start without assets)
//   TLINK_OTHER_ORG            an organization the owner is not a member of
//   TLINK_OTHER_ASSET          an asset id in TLINK_OTHER_ORG
//   TLINK_API_KEY              an API key of the owner (the script's own JSON API calls)
//   TLINK_DNS_TARGET           a domain the server's dns tool resolves to A 192.0.2.10
//   TLINK_SCREENSHOTS          a directory for the PNGs (created)
//   CHROMIUM                   the browser (default /usr/bin/chromium)
//
// Output: one line per journey that passed, then `DASHBOARD_METRICS <json>`; on the first failure a line
// `FAIL …` naming the journey, the step, what was expected and seen, and the page's URL (exit code 1).

import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`FAIL setup: environment variable ${name} is not set`);
    process.exit(1);
  }
  return v;
}

const BASE = env('TLINK_URL').replace(/\/+$/, '');
const OWNER = { email: env('TLINK_EMAIL'), password: env('TLINK_PASSWORD') };
const VIEWER = { email: env('TLINK_VIEWER_EMAIL'), password: env('TLINK_VIEWER_PASSWORD') };
const ORG = env('TLINK_ORG');
const OTHER_ORG = env('TLINK_OTHER_ORG');
const OTHER_ASSET = env('TLINK_OTHER_ASSET');
const API_KEY = env('TLINK_API_KEY');
const DNS_TARGET = env('TLINK_DNS_TARGET');
const SHOTS = env('TLINK_SCREENSHOTS');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const OTHER_EMAIL = env('TLINK_OTHER_EMAIL');
// The `tlink` binary and a fixture host's root for a real `tlink agent` (the agents journey).
const TLINK_BIN = env('TLINK_BIN', '');
// An IP address the AbuseIPDB stand-in scores 92.
const IP_TARGET = env('TLINK_IP_TARGET', '192.0.2.77');
const AGENT_ROOT = env('TLINK_AGENT_ROOT', '');

const EXPECTED_ADDRESS = '192.0.2.10';
const TIMEOUT = 20_000;
const O = `/orgs/${ORG}`;

// ---------------------------------------------------------------------------------------------------------
// Reporting and checks

const where = { journey: 'setup', step: '', page: null };
class Failure extends Error {}

/** Stops the run unless `cond` holds; `message` says what was expected and what was seen. */
function check(cond, message) {
  if (!cond) throw new Failure(message);
}

function step(name, page) {
  where.step = name;
  if (page) where.page = page;
}

/** Everything a journey learns that later ones use. */
const state = { assetId: null, reportId: null, alertId: null, ruleId: null };

// Problems seen by listeners (other origins, console errors, CSP violations, page errors), checked after
// every journey.
const problems = [];
// Main-document responses that are meant to be errors (a 404 page, a form shown again with 422, …):
// Chromium logs "Failed to load resource" for them, which is not a page bug.
const expectedErrorDocs = new Set();

function sameOrigin(url) {
  return url === BASE || url.startsWith(BASE + '/') || /^(data|blob|about):/.test(url);
}

function assertNoProblems() {
  if (problems.length) {
    const list = problems.map((p) => `  - ${p.kind}: ${p.text} (page ${p.url})`).join('\n');
    throw new Failure(`the browser reported ${problems.length} problem(s):\n${list}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Browser and API helpers

let browser;

/** A context whose every page is watched: requests stay on TLINK_URL, no console errors, no CSP reports. */
async function newContext(options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  ctx.setDefaultTimeout(TIMEOUT);
  ctx.setDefaultNavigationTimeout(TIMEOUT);
  ctx.on('request', (req) => {
    if (!sameOrigin(req.url())) problems.push({ kind: 'request to another origin', text: req.url(), url: req.frame()?.url?.() ?? '' });
  });
  ctx.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    const loc = msg.location()?.url ?? '';
    if (/^Failed to load resource: the server responded with a status of \d+/.test(text) && expectedErrorDocs.has(stripQuery(loc))) return;
    problems.push({ kind: text.startsWith('CSP violation') ? 'CSP violation' : 'console error', text: `${text} ${loc}`.trim(), url: msg.page()?.url() ?? loc });
  });
  ctx.on('weberror', (e) => problems.push({ kind: 'uncaught exception', text: String(e.error()), url: e.page()?.url() ?? '' }));
  // Runs in every document before its scripts (CDP, so the page's CSP does not apply to it).
  await ctx.addInitScript(() => {
    addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} in ${e.sourceFile || document.URL}:${e.lineNumber}`);
    }, true);
  });
  return ctx;
}

function stripQuery(url) {
  return url.split(/[?#]/)[0];
}

async function newPage(ctx) {
  const page = await ctx.newPage();
  // A confirm() (delete, revoke) is accepted; its text is kept to check it was asked.
  page.dialogs = [];
  page.on('dialog', async (d) => {
    page.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.accept();
  });
  where.page = page;
  return page;
}

/** Runs `action` (a click that submits or follows a link) and waits for the next page to load. */
async function navigating(page, action) {
  const [resp] = await Promise.all([page.waitForNavigation({ timeout: TIMEOUT, waitUntil: 'load' }), action()]);
  return resp;
}

async function goto(page, path) {
  return page.goto(BASE + path, { waitUntil: 'load' });
}

function path(page) {
  const u = new URL(page.url());
  return u.pathname;
}

function query(page, name) {
  return new URL(page.url()).searchParams.get(name);
}

/** The JSON API with the owner's API key (or `key`). */
async function api(method, apiPath, body, key = API_KEY) {
  const headers = { 'X-API-Key': key, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(BASE + apiPath, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

async function text(locator) {
  return ((await locator.textContent()) ?? '').replace(/\s+/g, ' ').trim();
}

async function flash(page) {
  const f = page.locator('main .flash').first();
  return (await f.count()) ? text(f) : '(no flash message)';
}

async function signIn(page, who, next = '') {
  await goto(page, `/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.locator('#email').fill(who.email);
  await page.locator('#password').fill(who.password);
  return navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
}

async function csrfToken(page) {
  const t = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  check(t && t.length > 10, `the page has a <meta name="csrf-token"> with a token; saw ${JSON.stringify(t)}`);
  return t;
}

async function clickNav(page, label) {
  await navigating(page, () => page.locator('nav.main-nav').getByRole('link', { name: label, exact: true }).click());
  check(page.url().startsWith(BASE + O), `nav "${label}" stays in ${O}; went to ${page.url()}`);
}

// ---------------------------------------------------------------------------------------------------------
// 1. Sign in

async function signInJourney() {
  const ctx = await newContext();
  const page = await newPage(ctx);

  step('GET / redirects to /login', page);
  const resp = await goto(page, '/');
  check(path(page) === '/login', `GET / ends on /login; ended on ${page.url()}`);
  check(resp.status() === 200, `/login answers 200; got ${resp.status()}`);
  const redirected = resp.request().redirectedFrom();
  check(redirected && stripQuery(redirected.url()) === BASE + '/', `/login was reached by a redirect from /; redirected from ${redirected?.url()}`);

  step('security headers of the sign-in page');
  const h = resp.headers();
  const csp = h['content-security-policy'] ?? '';
  check(csp.includes("default-src 'self'"), `content-security-policy contains default-src 'self'; saw ${JSON.stringify(csp)}`);
  check(csp.includes("frame-ancestors 'none'"), `content-security-policy contains frame-ancestors 'none'; saw ${JSON.stringify(csp)}`);
  check(!csp.includes('unsafe-inline'), `content-security-policy has no unsafe-inline; saw ${JSON.stringify(csp)}`);
  check((h['x-frame-options'] ?? '').toUpperCase() === 'DENY', `x-frame-options: DENY; saw ${h['x-frame-options']}`);
  check(!!h['referrer-policy'], `a referrer-policy header; saw ${h['referrer-policy']}`);
  check((h['x-content-type-options'] ?? '').toLowerCase() === 'nosniff', `x-content-type-options: nosniff; saw ${h['x-content-type-options']}`);

  step('a wrong password keeps the sign-in page with an error');
  await page.locator('#email').fill(OWNER.email);
  await page.locator('#password').fill(OWNER.password + '-wrong');
  expectedErrorDocs.add(BASE + '/login');
  const bad = await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  check(path(page) === '/login', `a wrong password stays on /login; went to ${page.url()} (status ${bad?.status()})`);
  const err = await text(page.locator('[role=alert]'));
  check(err.includes('Wrong e-mail or password.'), `the error "Wrong e-mail or password." is shown; saw ${JSON.stringify(err)}`);
  check((await page.locator('#email').inputValue()) === OWNER.email, 'the e-mail typed is kept after a wrong password');

  step('the right password lands on the overview');
  await page.locator('#password').fill(OWNER.password);
  await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  expectedErrorDocs.delete(BASE + '/login');
  check(path(page) === O, `signing in lands on ${O}; landed on ${page.url()} saying ${JSON.stringify(await flash(page))}`);
  check((await text(page.locator('h1'))) === 'Overview', `the overview's heading; saw ${await text(page.locator('h1'))}`);

  step('the session cookie is HttpOnly and SameSite=Lax');
  const cookies = await ctx.cookies(BASE);
  const session = cookies.find((c) => /^(__Host-)?tlink_session$/.test(c.name));
  check(session, `a tlink_session cookie is set; cookies: ${cookies.map((c) => c.name).join(', ') || 'none'}`);
  check(session.httpOnly === true, `the session cookie is HttpOnly; httpOnly=${session.httpOnly}`);
  check(session.sameSite === 'Lax', `the session cookie is SameSite=Lax; sameSite=${session.sameSite}`);
  return { ctx, page };
}

// ---------------------------------------------------------------------------------------------------------
// 2. The alert rule the alert journey needs (JSON API)

async function alertRuleJourney() {
  step('POST /api/orgs/{org}/alert-rules');
  const r = await api('POST', `/api/orgs/${ORG}/alert-rules`, {
    name: 'Has A records',
    condition: { tool: 'dns', field: 'a', operator: 'exists' },
    severity: 'HIGH',
  });
  check(r.status === 201, `creating the alert rule answers 201; got ${r.status} ${r.text.slice(0, 300)}`);
  check(r.json?.data?.enabled === true, `the rule is enabled; saw ${JSON.stringify(r.json?.data)}`);
  state.ruleId = r.json.data.id;
}

// ---------------------------------------------------------------------------------------------------------
// 3. Assets

async function assetsJourney(page) {
  step('nav "Assets" shows the empty state', page);
  await clickNav(page, 'Assets');
  check(path(page) === `${O}/assets`, `nav Assets opens ${O}/assets; opened ${page.url()}`);
  const empty = page.locator('main .empty');
  check((await empty.count()) === 1 && (await text(empty)).includes('No assets yet.'),
    `an empty organization's asset list says "No assets yet."; saw ${(await empty.count()) ? await text(empty) : 'no .empty block'}`);

  step('"Add asset" opens the form');
  await navigating(page, () => page.getByRole('link', { name: 'Add asset', exact: true }).click());
  check(path(page) === `${O}/assets/new`, `"Add asset" opens ${O}/assets/new; opened ${page.url()}`);

  step('an invalid domain is refused next to the Value field');
  expectedErrorDocs.add(`${BASE}${O}/assets`);
  await page.locator('#a-type').selectOption('DOMAIN');
  await page.locator('#a-value').fill('not a domain!');
  const refused = await navigating(page, () => page.getByRole('button', { name: 'Add asset' }).click());
  expectedErrorDocs.delete(`${BASE}${O}/assets`);
  check(refused?.status() === 422, `an invalid value answers 422 with the form; got ${refused?.status()}`);
  check((await page.locator('#a-value').getAttribute('aria-invalid')) === 'true', 'the Value input has aria-invalid="true"');
  const fieldError = page.locator('#a-value').locator('xpath=..').locator('.field-error');
  check((await fieldError.count()) === 1, 'a .field-error is shown in the Value field');
  const fe = await text(fieldError);
  check(fe.length > 3, `the Value field's error says what is wrong; saw ${JSON.stringify(fe)}`);
  const describedBy = (await page.locator('#a-value').getAttribute('aria-describedby')) ?? '';
  const feId = await fieldError.getAttribute('id');
  check(feId && describedBy.split(/\s+/).includes(feId), `the Value input's aria-describedby (${describedBy}) names its error (${feId})`);
  check((await page.locator('#a-value').inputValue()) === 'not a domain!', `the typed value is kept; saw ${JSON.stringify(await page.locator('#a-value').inputValue())}`);

  step('a valid domain with a label, monitored, is created');
  await page.locator('#a-type').selectOption('DOMAIN');
  await page.locator('#a-value').fill(DNS_TARGET);
  await page.locator('#a-label').fill('Main site');
  await page.locator('#a-mon').check();
  await navigating(page, () => page.getByRole('button', { name: 'Add asset' }).click());
  const m = path(page).match(new RegExp(`^${O}/assets/([0-9a-f-]{36})$`));
  check(m, `creating lands on the asset's detail page; landed on ${page.url()}`);
  state.assetId = m[1];
  check((await flash(page)) === 'Asset created.', `flash "Asset created."; saw ${JSON.stringify(await flash(page))}`);
  check((await text(page.locator('h1'))) === DNS_TARGET, `the detail's heading is the value; saw ${await text(page.locator('h1'))}`);
  const detail = await text(page.locator('main dl.kv').first());
  check(detail.includes('Main site') && detail.includes('ON'), `the detail shows the label "Main site" and monitoring ON; saw ${JSON.stringify(detail)}`);

  step('Edit changes the label');
  await navigating(page, () => page.getByRole('link', { name: 'Edit', exact: true }).click());
  check(path(page) === `${O}/assets/${state.assetId}/edit`, `Edit opens the edit form; opened ${page.url()}`);
  check(await page.locator('#a-mon').isChecked(), 'the edit form shows Monitor checked');
  await page.locator('#a-label').fill('Main site (renamed)');
  await navigating(page, () => page.getByRole('button', { name: 'Save' }).click());
  check(path(page) === `${O}/assets/${state.assetId}`, `saving lands on the detail; landed on ${page.url()}`);
  check((await flash(page)) === 'Asset saved.', `flash "Asset saved."; saw ${JSON.stringify(await flash(page))}`);
  const saved = await text(page.locator('main dl.kv').first());
  check(saved.includes('Main site (renamed)'), `the new label is shown; saw ${JSON.stringify(saved)}`);

  step('filter the list by type');
  await clickNav(page, 'Assets');
  await page.locator('#f-type').selectOption('DOMAIN');
  await navigating(page, () => page.getByRole('button', { name: 'Filter' }).click());
  check(query(page, 'type') === 'DOMAIN', `filtering puts type=DOMAIN in the URL; URL ${page.url()}`);
  let rows = await page.locator('#assets-table tbody tr').allTextContents();
  check(rows.some((r) => r.includes(DNS_TARGET)), `type DOMAIN lists ${DNS_TARGET}; rows: ${JSON.stringify(rows)}`);
  await page.locator('#f-type').selectOption('IP');
  await navigating(page, () => page.getByRole('button', { name: 'Filter' }).click());
  const none = (await page.locator('main .empty').count()) ? await text(page.locator('main .empty')) : '';
  check(none.includes('No asset matches these filters.'), `type IP lists nothing: "No asset matches these filters."; saw ${JSON.stringify(none)}`);

  step('filter the list by text');
  await page.locator('#f-type').selectOption('');
  await page.locator('#f-q').fill('renamed');
  await navigating(page, () => page.getByRole('button', { name: 'Filter' }).click());
  check(query(page, 'q') === 'renamed', `filtering puts q=renamed in the URL; URL ${page.url()}`);
  rows = await page.locator('#assets-table tbody tr').allTextContents();
  check(rows.length === 1 && rows[0].includes(DNS_TARGET), `q=renamed lists only ${DNS_TARGET}; rows: ${JSON.stringify(rows)}`);
  await navigating(page, () => page.getByRole('link', { name: 'Clear' }).click());
  check(!page.url().includes('?'), `Clear removes the filters; URL ${page.url()}`);

  step('create a second asset (IP 192.0.2.55)');
  await navigating(page, () => page.getByRole('link', { name: 'Add asset', exact: true }).click());
  await page.locator('#a-type').selectOption('IP');
  await page.locator('#a-value').fill('192.0.2.55');
  await navigating(page, () => page.getByRole('button', { name: 'Add asset' }).click());
  check((await flash(page)) === 'Asset created.', `flash "Asset created." for the IP; saw ${JSON.stringify(await flash(page))} at ${page.url()}`);

  step('delete it with its Delete button (confirm dialog)');
  const asked = page.dialogs.length;
  await navigating(page, () => page.getByRole('button', { name: 'Delete', exact: true }).click());
  check(page.dialogs.length === asked + 1 && page.dialogs.at(-1).startsWith('confirm: Delete 192.0.2.55'),
    `Delete asks for confirmation first; dialogs: ${JSON.stringify(page.dialogs.slice(asked))}`);
  check(path(page) === `${O}/assets`, `deleting lands on the list; landed on ${page.url()}`);
  check((await flash(page)) === 'Asset deleted.', `flash "Asset deleted."; saw ${JSON.stringify(await flash(page))}`);
  rows = await page.locator('#assets-table tbody tr').allTextContents();
  check(!rows.some((r) => r.includes('192.0.2.55')), `192.0.2.55 is gone from the list; rows: ${JSON.stringify(rows)}`);
  check(rows.some((r) => r.includes(DNS_TARGET)), `${DNS_TARGET} is still listed; rows: ${JSON.stringify(rows)}`);
}

// ---------------------------------------------------------------------------------------------------------
// 4. A tool run, followed live on its report page

async function toolRunJourney(page) {
  step('Tools: run dns on the target', page);
  await clickNav(page, 'Tools');
  await page.locator('#t-tool').selectOption('dns');
  await page.locator('#t-target').fill(DNS_TARGET);
  await navigating(page, () => page.getByRole('button', { name: 'Run', exact: true }).click());
  const m = path(page).match(new RegExp(`^${O}/reports/([0-9a-f-]{36})$`));
  check(m, `Run goes to the report's page; went to ${page.url()}`);
  state.reportId = m[1];

  step('the report page starts QUEUED or RUNNING');
  const first = await page.locator('#report-status').getAttribute('data-status');
  check(['QUEUED', 'RUNNING'].includes(first), `#report-status[data-status] is QUEUED or RUNNING when the page loads; saw ${first}`);
  check((await page.locator('#report .live').count()) === 1, 'the page says it is live while the report runs');

  step('it becomes COMPLETED without navigation');
  let navigations = 0;
  const onNav = (f) => {
    if (f === page.mainFrame()) navigations += 1;
  };
  page.on('framenavigated', onNav);
  await page.evaluate(() => (window.__sameDocument = true));
  try {
    await page.locator('#report-state', { hasText: /^\s*COMPLETED\s*$/ }).waitFor({ timeout: TIMEOUT });
  } catch {
    const seen = (await page.locator('#report-state').count()) ? await text(page.locator('#report-state')) : 'no #report-state';
    check(false, `#report-state becomes COMPLETED within ${TIMEOUT / 1000} s; it shows ${seen}`);
  }
  page.off('framenavigated', onNav);
  check(navigations === 0, `the report updated in place; the main frame navigated ${navigations} time(s)`);
  check(await page.evaluate(() => window.__sameDocument === true), 'the report updated in the same document (no reload)');
  check((await page.locator('#report-status').getAttribute('data-status')) === 'COMPLETED', '#report-status[data-status] is COMPLETED');

  step('the readable result shows the address in a table');
  const cells = await page.locator('#report table.data td').allTextContents();
  check(cells.map((c) => c.trim()).includes(EXPECTED_ADDRESS), `a result table has a cell ${EXPECTED_ADDRESS}; cells: ${JSON.stringify(cells.slice(0, 20))}`);
  check((await page.locator('#report-tree').count()) === 1, 'the JSON tree #report-tree is present');
  check((await page.locator('#report-tree details').count()) > 0, 'the JSON tree has nodes');

  step('"Download JSON" returns the JSON');
  const href = await page.getByRole('link', { name: 'Download JSON' }).getAttribute('href');
  check(href === `${O}/reports/${state.reportId}/json`, `"Download JSON" links to the report's JSON; href ${href}`);
  const dl = await page.request.get(BASE + href);
  check(dl.status() === 200, `the JSON download answers 200; got ${dl.status()}`);
  check((dl.headers()['content-type'] ?? '').startsWith('application/json'), `the download is application/json; got ${dl.headers()['content-type']}`);
  let json;
  try {
    json = JSON.parse(await dl.text());
  } catch (e) {
    check(false, `the download parses as JSON: ${e.message}`);
  }
  check(JSON.stringify(json).includes(EXPECTED_ADDRESS), `the JSON holds ${EXPECTED_ADDRESS}`);

  step('the past reports list shows the report');
  await navigating(page, () => page.getByRole('link', { name: 'Past dns reports' }).click());
  const link = `a[href="${O}/reports/${state.reportId}"]`;
  check((await page.locator(`#reports-table ${link}`).count()) === 1, `the past reports list links to report ${state.reportId}; URL ${page.url()}`);
  const row = await text(page.locator('#reports-table tbody tr', { has: page.locator(link) }));
  check(row.includes(DNS_TARGET) && row.includes('COMPLETED'), `its row shows the target and COMPLETED; saw ${JSON.stringify(row)}`);
}

// ---------------------------------------------------------------------------------------------------------
// 5. Alerts: a new alert appears live, is acknowledged in bulk, then resolved on its page

async function resolveActiveAlerts() {
  for (const status of ['OPEN', 'ACKNOWLEDGED']) {
    const r = await api('GET', `/api/orgs/${ORG}/alerts?status=${status}&limit=100`);
    check(r.status === 200, `GET /api/orgs/{org}/alerts?status=${status} answers 200; got ${r.status} ${r.text.slice(0, 200)}`);
    for (const a of r.json.data) {
      const p = await api('PATCH', `/api/orgs/${ORG}/alerts/${a.id}`, { status: 'RESOLVED', note: 'dashboard test: start clean' });
      check(p.status === 200, `resolving alert ${a.id} over the API answers 200; got ${p.status} ${p.text.slice(0, 200)}`);
    }
  }
}

async function activeAlerts() {
  const r = await api('GET', `/api/orgs/${ORG}/alerts?status=OPEN&limit=100`);
  const s = await api('GET', `/api/orgs/${ORG}/alerts?status=ACKNOWLEDGED&limit=100`);
  return [...(r.json?.data ?? []), ...(s.json?.data ?? [])];
}

async function alertsJourney(page) {
  // An open alert for the same rule and asset would only count another occurrence: start with none.
  // (The monitored asset's first scheduled scan may raise one at any time; then resolve again.)
  let before;
  for (let attempt = 1; ; attempt++) {
    step('resolve active alerts over the API, open Alerts', page);
    await resolveActiveAlerts();
    await clickNav(page, 'Alerts');
    check(path(page) === `${O}/alerts`, `nav Alerts opens ${O}/alerts; opened ${page.url()}`);
    before = new Set(await page.locator('#alert-rows tr[data-alert]').evaluateAll((trs) => trs.map((t) => t.dataset.alert)));
    if ((await activeAlerts()).length === 0) break;
    check(attempt < 3, 'no alert of the organization stays OPEN or ACKNOWLEDGED after resolving them');
  }
  check((await page.locator('.page-head .live').count()) === 1, 'the first page of Alerts says it is live');

  step('a dns run over the API raises a new alert that appears without navigation');
  let navigations = 0;
  const onNav = (f) => {
    if (f === page.mainFrame()) navigations += 1;
  };
  page.on('framenavigated', onNav);
  // The run is linked to the asset: alert rules only judge scans of assets (a run with a bare target
  // raises no alert).
  const run = await api('POST', `/api/orgs/${ORG}/tools/run`, { toolKey: 'dns', target: DNS_TARGET, assetId: state.assetId });
  check(run.status === 202, `POST /api/orgs/{org}/tools/run answers 202; got ${run.status} ${run.text.slice(0, 300)}`);
  const id = await page
    .waitForFunction(
      (old) => [...document.querySelectorAll('#alert-rows tr[data-alert]')].map((t) => t.dataset.alert).find((a) => !old.includes(a)),
      [...before],
      { timeout: TIMEOUT },
    )
    .then((h) => h.jsonValue())
    .catch(() => null);
  page.off('framenavigated', onNav);
  if (!id) {
    const report = await api('GET', `/api/orgs/${ORG}/tools/reports/${run.json?.data?.reportId}`);
    const alerts = await api('GET', `/api/orgs/${ORG}/alerts?limit=5`);
    check(false, `a new row appears in #alert-rows within ${TIMEOUT / 1000} s; none did. The run's report: ${report.text.slice(0, 300)}; latest alerts over the API: ${alerts.text.slice(0, 400)}`);
  }
  check(navigations === 0, `the new alert appeared in place; the main frame navigated ${navigations} time(s)`);
  state.alertId = id;
  const row = page.locator(`#alert-rows tr[data-alert="${id}"]`);
  const rowText = await text(row);
  check(rowText.includes('HIGH') && rowText.includes('OPEN'), `the new row shows HIGH and OPEN; saw ${JSON.stringify(rowText)}`);

  step('select it and "Acknowledge selected"');
  await row.locator('input[type=checkbox][name=ids]').check();
  const ack = page.getByRole('button', { name: 'Acknowledge selected' });
  check(await ack.isEnabled(), '"Acknowledge selected" is enabled once a row is selected');
  await navigating(page, () => ack.click());
  check((await flash(page)) === '1 alert(s) changed.', `flash "1 alert(s) changed."; saw ${JSON.stringify(await flash(page))} at ${page.url()}`);
  const after = await text(page.locator(`#alert-rows tr[data-alert="${id}"]`));
  check(after.includes('ACKNOWLEDGED'), `the row shows ACKNOWLEDGED; saw ${JSON.stringify(after)}`);

  step("the alert's detail: status, history, triggering value");
  await navigating(page, () => page.locator(`#alert-rows tr[data-alert="${id}"] a[href="${O}/alerts/${id}"]`).click());
  check(path(page) === `${O}/alerts/${id}`, `the row's link opens the alert; opened ${page.url()}`);
  check((await text(page.locator('#alert-status'))) === 'ACKNOWLEDGED', `#alert-status is ACKNOWLEDGED; saw ${await text(page.locator('#alert-status'))}`);
  const history = await page.locator('ol.history li').allTextContents();
  check(history.some((h) => h.includes(OWNER.email) && /OPEN\s*→\s*ACKNOWLEDGED/.test(h)),
    `the history lists ${OWNER.email}: OPEN → ACKNOWLEDGED; saw ${JSON.stringify(history)}`);
  const kv = page.locator('main dl.kv').first();
  const triggering = await text(kv.locator('dt:text-is("Triggering value") + dd'));
  check(triggering.includes(EXPECTED_ADDRESS), `the triggering value shows ${EXPECTED_ADDRESS}; saw ${JSON.stringify(triggering)}`);
  check((await text(kv)).includes('Has A records'), 'the detail names the rule "Has A records"');

  step('Resolve');
  await navigating(page, () => page.getByRole('button', { name: 'Resolve', exact: true }).click());
  check((await flash(page)) === 'Alert resolved.', `flash "Alert resolved."; saw ${JSON.stringify(await flash(page))} at ${page.url()}`);
  check((await text(page.locator('#alert-status'))) === 'RESOLVED', `#alert-status is RESOLVED; saw ${await text(page.locator('#alert-status'))}`);
}

// ---------------------------------------------------------------------------------------------------------
// 5b. Alert rules: write one with the field suggested, dry-run it against the asset's latest report, save it

async function rulesJourney(page) {
  step(`Assets → add the IP ${IP_TARGET} and "Scan now": its ip-reputation result arrives`, page);
  await clickNav(page, 'Assets');
  await navigating(page, () => page.getByRole('link', { name: 'Add asset', exact: true }).click());
  await page.locator('#a-type').selectOption('IP');
  await page.locator('#a-value').fill(IP_TARGET);
  await navigating(page, () => page.getByRole('button', { name: 'Add asset' }).click());
  const ipAsset = path(page);
  await navigating(page, () => page.getByRole('button', { name: 'Scan now' }).click());
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline && (await page.locator('#result-ip-reputation').count()) === 0) {
    await page.waitForTimeout(300);
    await goto(page, ipAsset);
  }
  const reputation = await text(page.locator('#result-ip-reputation'));
  check(reputation.includes('92'), `the asset shows its ip-reputation result with the score 92; saw ${JSON.stringify(reputation.slice(0, 300))}`);

  step('Rules → New rule for ip-reputation: the AbuseIPDB score is suggested, and the dry run says 92 ≥ 75');
  await clickNav(page, 'Rules');
  await navigating(page, () => page.getByRole('link', { name: 'New rule' }).click());
  await page.getByLabel('Tool', { exact: true }).selectOption('ip-reputation');
  await page.waitForURL(/tool=ip-reputation/, { timeout: TIMEOUT });
  const repFields = await page.locator('#field-suggestions option').evaluateAll((os) => os.map((o) => o.value));
  check(repFields.includes('abuseipdb.abuseConfidenceScore'), `the ip-reputation fields are suggested; saw ${JSON.stringify(repFields.slice(0, 20))}`);
  await page.getByLabel('Name').fill('Abusive address');
  await page.getByLabel('Field').fill('abuseipdb.abuseConfidenceScore');
  await page.getByLabel('Operator').selectOption('gte');
  await page.getByLabel(/^Value/).fill('75');
  const reads = await text(page.locator('#rule-preview'));
  check(reads === 'abuseipdb.abuseConfidenceScore ≥ 75 (actual: …)', `the alert's message reads as typed; saw ${JSON.stringify(reads)}`);
  await page.getByRole('button', { name: 'Test this rule' }).click();
  await page.locator('#dry-summary').waitFor({ timeout: TIMEOUT });
  const scored = await text(page.locator('#dry-run-table tbody tr').first());
  check(scored.includes('WOULD FIRE') && scored.includes('≥ 75 (actual: 92)'), `the dry run shows "would fire: 92 ≥ 75"; saw ${JSON.stringify(scored)}`);
  await page.screenshot({ path: join(SHOTS, 'rule-dry-run-score-desktop-light.png'), fullPage: true });

  step('Rules → New rule (tool dns)', page);
  await clickNav(page, 'Rules');
  check(path(page) === `${O}/rules`, `nav Rules opens ${O}/rules; opened ${page.url()}`);
  await navigating(page, () => page.getByRole('link', { name: 'New rule' }).click());
  const suggested = await page.locator('#field-suggestions option').evaluateAll((os) => os.map((o) => o.value));
  check(suggested.includes('a') && suggested.some((f) => f.startsWith('records.mx[*].')),
    `the Field suggestions come from the dns result schema; saw ${JSON.stringify(suggested.slice(0, 20))}`);

  step('the operators offered fit the field\'s type');
  const enabledOps = () => page.locator('#r-op option:not([disabled])').evaluateAll((os) => os.map((o) => o.value));
  await page.getByLabel('Field').fill('records.mx[*].preference');
  const forNumber = await enabledOps();
  check(forNumber.includes('gte') && !forNumber.includes('contains'), `a numeric field is offered ≥ but not contains; saw ${JSON.stringify(forNumber)}`);
  check((await text(page.locator('#r-field-kind'))).includes('integer'), `the field's type is named; saw ${JSON.stringify(await text(page.locator('#r-field-kind')))}`);
  await page.getByLabel('Operator').selectOption('gte');
  await page.getByLabel('Field').fill('a');
  const forList = await enabledOps();
  check(forList.includes('contains') && !forList.includes('gte'), `a list field is offered contains but not ≥; saw ${JSON.stringify(forList)}`);
  const picked = await page.getByLabel('Operator').inputValue();
  check(forList.includes(picked), `an operator that no longer fits is not left selected; ${JSON.stringify(picked)} is`);

  step('fill in the rule and "Test this rule" (no navigation)');
  await page.getByLabel('Name').fill('A record present');
  await page.getByLabel('Field').fill('a');
  await page.getByLabel('Operator').selectOption('exists');
  await page.getByLabel('Severity').selectOption('LOW');
  let navigations = 0;
  const onNav = (f) => {
    if (f === page.mainFrame()) navigations += 1;
  };
  page.on('framenavigated', onNav);
  await page.getByRole('button', { name: 'Test this rule' }).click();
  await page.locator('#dry-summary').waitFor({ timeout: TIMEOUT });
  page.off('framenavigated', onNav);
  check(navigations === 0, `the dry run answered in place; the page navigated ${navigations} time(s)`);
  const summary = await text(page.locator('#dry-summary'));
  check(/\b1\b of 1 report\(s\) would fire/.test(summary), `the dry run says 1 of 1 report(s) would fire; saw ${JSON.stringify(summary)}`);
  const row = await text(page.locator('#dry-run-table tbody tr').first());
  check(row.includes('WOULD FIRE') && row.includes(EXPECTED_ADDRESS), `the dry run shows the actual value ${EXPECTED_ADDRESS}; saw ${JSON.stringify(row)}`);
  await page.screenshot({ path: join(SHOTS, 'rule-dry-run-desktop-light.png'), fullPage: true });

  step('a condition that does not hold');
  await page.getByLabel('Field').fill('nxdomain');
  await page.getByLabel('Operator').selectOption('eq');
  await page.getByLabel(/^Value/).fill('true');
  await page.getByRole('button', { name: 'Test this rule' }).click();
  await page.waitForFunction(() => /\b0\b of 1/.test(document.querySelector('#dry-summary')?.textContent ?? ''), null, { timeout: TIMEOUT });
  const no = await text(page.locator('#dry-run-table tbody tr').first());
  check(no.includes('NO') && no.includes('false'), `the dry run shows it would not fire, with the actual value false; saw ${JSON.stringify(no)}`);

  step('a malformed field is refused by name');
  await page.getByLabel('Field').fill('a..b');
  await page.getByRole('button', { name: 'Test this rule' }).click();
  await page.waitForFunction(() => (document.querySelector('#dry-run .flash.error')?.textContent ?? '').includes('condition.field'), null, { timeout: TIMEOUT });

  step('save it with a webhook to a loopback receiver: the signing secret is shown once');
  const received = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('receiver says hi');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    await page.getByLabel('Field').fill('a');
    await page.getByLabel('Operator').selectOption('exists');
    await page.getByLabel(/^Value/).fill('');
    await page.getByLabel('Send a signed webhook').check();
    await page.getByLabel('Webhook URL').fill(`http://127.0.0.1:${receiver.address().port}/hook`);
    await navigating(page, () => page.getByRole('button', { name: 'Create rule' }).click());
    check((await flash(page)) === 'Rule created.', `flash "Rule created."; saw ${JSON.stringify(await flash(page))} at ${page.url()}`);
    const secret = await text(page.locator('#webhook-secret'));
    check(secret.startsWith('whsec_'), `the webhook secret is shown once; saw ${JSON.stringify(secret)}`);
    state.ruleId = await page.locator('input[name=ruleId]').inputValue();

    step('"Send a test delivery": the receiver gets a signed alert.fired, and its answer is shown');
    await navigating(page, () => page.getByRole('button', { name: 'Send a test delivery' }).click());
    const shown = await text(page.locator('#test-delivery'));
    check(shown.includes('DELIVERED') && shown.includes('HTTP 200') && shown.includes('receiver says hi'),
      `the test delivery's answer is shown; saw ${JSON.stringify(shown)}`);
    check(received.length === 1, `the receiver got one request; got ${received.length}`);
    const { headers, body } = received[0];
    const msg = JSON.parse(body);
    check(msg.event === 'alert.fired' && msg.test === true, `the body is a test alert.fired; saw ${body.slice(0, 200)}`);
    const expected = createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64'))
      .update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`)
      .digest('base64');
    check(String(headers['webhook-signature']).split(' ').includes(`v1,${expected}`),
      `the Standard Webhooks signature verifies with the secret shown; header ${headers['webhook-signature']}`);
  } finally {
    receiver.close();
  }
  await goto(page, `${O}/rules`);
  const listed = await text(page.locator('#rules-table'));
  check(listed.includes('A record present') && listed.includes('ENABLED'), `the rule is listed, enabled; saw ${JSON.stringify(listed.slice(0, 300))}`);

  step('disable it');
  const ruleRow = page.locator('#rules-table tr', { hasText: 'A record present' });
  await navigating(page, () => ruleRow.getByRole('button', { name: 'Disable' }).click());
  check((await flash(page)).startsWith('Rule disabled'), `flash "Rule disabled…"; saw ${JSON.stringify(await flash(page))}`);
  const over = await api('GET', `/api/orgs/${ORG}/alert-rules/${state.ruleId}`);
  check(over.json?.data?.enabled === false, `the API sees the rule disabled; saw ${over.text.slice(0, 200)}`);
}

// ---------------------------------------------------------------------------------------------------------
// 6. API keys: create, use, rotate, revoke

async function meWith(key) {
  const res = await fetch(`${BASE}/api/users/me`, { headers: { 'X-API-Key': key } });
  await res.arrayBuffer();
  return res.status;
}

/** The row of the keys table whose shown prefix starts `key`. */
async function keyRow(page, key) {
  const rows = page.locator('#keys-table tbody tr');
  for (let i = 0; i < (await rows.count()); i++) {
    const prefix = (await text(rows.nth(i).locator('td').nth(1).locator('code'))).replace(/…$/, '');
    if (prefix && key.startsWith(prefix)) return rows.nth(i);
  }
  check(false, `the keys table lists the key ${key.slice(0, 12)}…; rows: ${JSON.stringify(await rows.allTextContents())}`);
}

async function keysJourney(page) {
  step('create a key "browser-test"', page);
  await clickNav(page, 'API keys');
  await page.locator('#k-name').fill('browser-test');
  await navigating(page, () => page.getByRole('button', { name: 'Create key' }).click());
  check((await page.locator('#new-key').count()) === 1, `the new key is shown in #new-key; URL ${page.url()}, flash ${await flash(page)}`);
  const first = await text(page.locator('#new-key'));
  check(first.startsWith('tlpro_'), `the key starts with tlpro_; saw ${first.slice(0, 10)}…`);
  const curl = await text(page.locator('#curl-line'));
  check(curl.startsWith('curl') && curl.includes(`X-API-Key: ${first}`), `a curl line with the key; saw ${JSON.stringify(curl.replace(first, '<key>'))}`);
  check((await meWith(first)) === 200, 'GET /api/users/me with the new key answers 200');

  step('rotate it, the old key ending now');
  let row = await keyRow(page, first);
  await row.locator('select[name=graceSeconds]').selectOption({ label: 'Old key ends now' });
  await navigating(page, () => row.getByRole('button', { name: 'Rotate' }).click());
  check((await page.locator('#new-key').count()) === 1, `the rotated key is shown; URL ${page.url()}, flash ${await flash(page)}`);
  const second = await text(page.locator('#new-key'));
  check(second.startsWith('tlpro_') && second !== first, 'a different new key is shown');
  const replaced = await text(page.locator('#new-key-card'));
  check(replaced.includes('no longer works'), `the page says the old key no longer works; saw ${JSON.stringify(replaced.replace(second, '<key>'))}`);
  check((await meWith(first)) === 401, `the old key now answers 401; got ${await meWith(first)}`);
  check((await meWith(second)) === 200, `the new key answers 200; got ${await meWith(second)}`);

  step('revoke the new key (confirm dialog)');
  row = await keyRow(page, second);
  const asked = page.dialogs.length;
  await navigating(page, () => row.getByRole('button', { name: 'Revoke' }).click());
  check(page.dialogs.length === asked + 1 && page.dialogs.at(-1).startsWith('confirm: Revoke the key browser-test'),
    `Revoke asks for confirmation; dialogs: ${JSON.stringify(page.dialogs.slice(asked))}`);
  const f = await flash(page);
  check(f.startsWith('Key revoked'), `flash "Key revoked…"; saw ${JSON.stringify(f)} at ${page.url()}`);
  check((await page.locator('#new-key').count()) === 0, 'the revoked page shows no key');
  check((await meWith(second)) === 401, `the revoked key answers 401; got ${await meWith(second)}`);
}

// ---------------------------------------------------------------------------------------------------------
// 6b. Application keys (Hawk), usage, and the audit trail of everything done so far

async function hawkAuditJourney(page) {
  step('Application keys: the ids to use with Hawk, and "Test Hawk" signs a real request in the browser', page);
  await clickNav(page, 'Application keys');
  check(path(page) === `${O}/application-keys`, `nav opens ${O}/application-keys; opened ${page.url()}`);
  check((await text(page.locator('#hawk-org-id'))) === ORG, 'the page shows the organization id for Hawk ext');
  check((await text(page.locator('#example-python'))).includes('mohawk') && (await text(page.locator('#example-node'))).includes('Hawk.client.header'),
    'the Python mohawk and Node hawk examples are shown');
  await page.locator('#hawk-key').fill(API_KEY);
  await page.getByRole('button', { name: 'Test Hawk' }).click();
  await page.waitForFunction(() => (document.querySelector('#hawk-result')?.textContent ?? '').length > 0, null, { timeout: TIMEOUT });
  const result = await text(page.locator('#hawk-result'));
  check(result.includes('Hawk works'), `"Test Hawk" succeeds with the owner's key; saw ${JSON.stringify(result)}`);
  await page.locator('#hawk-key').fill('tlpro_wrongwrongwrongwrongwrongwrong');
  expectedErrorDocs.add(BASE + '/help/hawk/self-test');
  await page.getByRole('button', { name: 'Test Hawk' }).click();
  await page.waitForFunction(() => !(document.querySelector('#hawk-result')?.textContent ?? '').includes('Hawk works'), null, { timeout: TIMEOUT });
  const refused = await text(page.locator('#hawk-result'));
  check(/401/.test(refused), `a wrong key is refused with 401; saw ${JSON.stringify(refused)}`);
  expectedErrorDocs.delete(BASE + '/help/hawk/self-test');

  step('Usage: the plan and this month\'s runs');
  await clickNav(page, 'Usage');
  const usage = await text(page.locator('main'));
  check(usage.includes('FREE') && (await page.locator('meter').count()) >= 1, `the usage page shows the plan and a quota meter; saw ${JSON.stringify(usage.slice(0, 200))}`);

  step('Audit trail: the changes made through the dashboard and the API');
  await clickNav(page, 'Audit trail');
  const log = await text(page.locator('#audit-table'));
  for (const want of ['created the rule “A record present”', 'created the API key “browser-test”', 'revoked the API key', 'dashboard']) {
    check(log.includes(want), `the audit trail lists ${JSON.stringify(want)}; saw ${JSON.stringify(log.slice(0, 600))}`);
  }
  check(/ACKNOWLEDGED/.test(log) && /RESOLVED/.test(log), 'the alert status changes are in the audit trail');
  const over = await api('GET', `/api/orgs/${ORG}/audit-log?action=rule.created`);
  check(over.status === 200 && over.json.data.some((e) => e.source === 'dashboard' && e.summary.includes('A record present')),
    `the API's audit log has the rule created from the dashboard; saw ${over.text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------------------
// 6c. Members, settings, a real agent enrolled from the dashboard, vulnerabilities

async function membersAgentsJourney(page) {
  step('Members: add an existing user, change the role, remove', page);
  await clickNav(page, 'Members');
  await page.getByLabel('E-mail address').fill('nobody@example.com');
  expectedErrorDocs.add(BASE + `${O}/members`);
  await navigating(page, () => page.getByRole('button', { name: 'Add member' }).click());
  const unknown = await text(page.locator('#m-email-error'));
  check(unknown.length > 0, `an unknown e-mail is refused next to the field; saw ${JSON.stringify(unknown)}`);
  await page.getByLabel('E-mail address').fill(OTHER_EMAIL);
  await page.getByLabel('Role', { exact: true }).selectOption('MEMBER');
  await navigating(page, () => page.getByRole('button', { name: 'Add member' }).click());
  expectedErrorDocs.delete(BASE + `${O}/members`);
  const table = page.locator('#members-table');
  check((await text(table)).includes(OTHER_EMAIL), `the new member is listed; saw ${JSON.stringify((await text(table)).slice(0, 300))}`);
  const row = table.locator('tr', { hasText: OTHER_EMAIL });
  await row.locator('select[name=role]').selectOption('ADMIN');
  await navigating(page, () => row.getByRole('button', { name: /Change role/ }).click());
  const changed = page.locator('#members-table tr', { hasText: OTHER_EMAIL });
  const roleCell = await text(changed.locator('td').nth(2));
  check(roleCell === "Admin", `the role changed to Admin; the row shows ${JSON.stringify(roleCell)}`);
  await navigating(page, () => page.locator('#members-table tr', { hasText: OTHER_EMAIL }).getByRole('button', { name: /Remove/ }).click());
  check(!(await text(page.locator('#members-table'))).includes(OTHER_EMAIL), 'the member is gone after Remove');

  step('Settings: the default scan interval and my alert e-mail');
  await clickNav(page, 'Settings');
  await page.getByLabel('Default scan interval, minutes').fill('720');
  await navigating(page, () => page.getByRole('button', { name: 'Save interval' }).click());
  const every = await text(page.locator('main section').first());
  check(/12 hours|720 minutes/.test(every), `the new interval is shown; saw ${JSON.stringify(every.slice(0, 200))}`);
  const mine = page.locator('#alert-email-table tr', { hasText: 'you' });
  const before = await text(mine.locator('td').nth(1));
  await navigating(page, () => mine.getByRole('button').click());
  const after = await text(page.locator('#alert-email-table tr', { hasText: 'you' }).locator('td').nth(1));
  check(before !== after, `my alert e-mail switched; it read ${JSON.stringify(before)} and now ${JSON.stringify(after)}`);

  step('Agents: create an enrollment token; it is shown once with the command line');
  await clickNav(page, 'Agents');
  await page.getByLabel('Name').fill('browser hosts');
  await navigating(page, () => page.getByRole('button', { name: 'Create enrollment token' }).click());
  const token = await text(page.locator('#new-token'));
  const command = await text(page.locator('#agent-command'));
  check(token.length > 10 && command.includes('tlink agent') && command.includes(token), `the token and its command line are shown; saw ${JSON.stringify(command)}`);
  if (!TLINK_BIN || !AGENT_ROOT) {
    console.log('     (no TLINK_BIN: the real agent step is skipped)');
    await auditViewShows(page, membershipChanges());
    return;
  }

  step('a real `tlink agent` reports the fixture host; the host appears with its packages');
  const agent = spawn(TLINK_BIN, ['agent', '--server', BASE, '--interval-secs', '1', '--root', AGENT_ROOT], {
    // Only what the agent needs: the script's own TLINK_* variables are not tlink configuration.
    env: { PATH: process.env.PATH, HOME: process.env.HOME ?? '/tmp', TLINK_AGENT_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let agentOutput = '';
  agent.stdout.on('data', (d) => (agentOutput += d));
  agent.stderr.on('data', (d) => (agentOutput += d));
  try {
    const deadline = Date.now() + TIMEOUT;
    let listed = '';
    while (Date.now() < deadline) {
      await goto(page, `${O}/agents`);
      listed = await text(page.locator('main'));
      if (listed.includes('deb12-web01')) break;
      await page.waitForTimeout(500);
    }
    check(listed.includes('deb12-web01'), `the fixture host deb12-web01 is listed within ${TIMEOUT / 1000} s; the agent said ${JSON.stringify(agentOutput.slice(0, 600))}`);
    await navigating(page, () => page.getByRole('link', { name: 'deb12-web01' }).first().click());
    state.agentPath = path(page);
    const detail = await text(page.locator('main'));
    check(detail.includes('bash') && /Debian/i.test(detail), `the host's detail lists its packages (bash) and OS; saw ${JSON.stringify(detail.slice(0, 400))}`);
  } finally {
    agent.kill();
  }

  step('Vulnerabilities: the host\'s matches by CVE, then suppress one with a reason');
  await clickNav(page, 'Vulnerabilities');
  const cves = page.locator('#vuln-cves-table tbody tr');
  const rows = await cves.count();
  check(rows > 0, `the fixture host's packages match the loaded advisories; the page says ${JSON.stringify((await text(page.locator('main'))).slice(0, 300))}`);
  const first = cves.first();
  const cell = await text(first.locator('td').first());
  const cve = (cell.match(/^[A-Z]+-\d{4}-\d+/) ?? [cell.split(/\s/)[0]])[0];
  await first.locator('summary').click();
  await first.getByLabel('Reason').fill('not reachable: the service is not exposed');
  await navigating(page, () => first.getByRole('button', { name: 'Suppress', exact: true }).click());
  check((await flash(page)).startsWith('Suppressed'), `flash "Suppressed: …"; saw ${JSON.stringify(await flash(page))}`);
  const active = await page.locator('#vuln-cves-table tbody tr td:first-child').allTextContents();
  check(!active.some((t) => t.trim().startsWith(cve)), `${cve} leaves the active list; it lists ${JSON.stringify(active.slice(0, 10))}`);
  await goto(page, `${O}/vulnerabilities?status=suppressed`);
  const suppressed = await text(page.locator('#vuln-cves-table'));
  check(suppressed.includes(cve) && suppressed.includes('SUPPRESSED'), `${cve} is listed as suppressed; saw ${JSON.stringify(suppressed.slice(0, 300))}`);
  state.suppressedCve = cve;
  await auditViewShows(page, [...membershipChanges(), `suppressed ${cve}`]);
}

/// What the members and settings steps leave in the audit trail.
function membershipChanges() {
  return [`added ${OTHER_EMAIL}`, `changed ${OTHER_EMAIL}'s role from MEMBER to ADMIN`, `removed ${OTHER_EMAIL}`,
    'changed the default scan interval', 'turned alert e-mail', 'created the agent enrollment token “browser hosts”'];
}

async function auditViewShows(page, wants) {
  step('Audit trail: those changes are listed');
  await clickNav(page, 'Audit trail');
  const log = await text(page.locator('#audit-table'));
  for (const want of wants) {
    check(log.includes(want), `the audit trail lists ${JSON.stringify(want)}; saw ${JSON.stringify(log.slice(0, 800))}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// 7. Tenancy: another organization's things are "Not found"

async function tenancyJourney(page) {
  for (const p of [`/orgs/${OTHER_ORG}`, `${O}/assets/${OTHER_ASSET}`, `${O}/alerts/00000000-0000-0000-0000-000000000000`]) {
    step(`GET ${p}`, page);
    expectedErrorDocs.add(BASE + p);
    const r = await goto(page, p);
    check(r.status() === 404, `${p} answers 404; got ${r.status()}`);
    check((r.headers()['content-type'] ?? '').startsWith('text/html'), `${p} is an HTML page; content-type ${r.headers()['content-type']}`);
    check((await text(page.locator('h1'))) === 'Not found', `${p} shows the "Not found" page; h1 ${JSON.stringify(await text(page.locator('h1')))}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// 8. CSRF: forged, missing, or cross-origin forms are refused

async function csrfJourney(page) {
  step('read the real token', page);
  await goto(page, `${O}/assets`);
  const token = await csrfToken(page);
  const url = `${BASE}${O}/assets`;
  const form = (value, csrf) => ({ type: 'DOMAIN', value, label: 'csrf test', ...(csrf === undefined ? {} : { csrf }) });
  const forged = [...token].map((c, i) => (i % 2 ? c : c === 'a' ? 'b' : 'a')).join('');

  step('a forged token is refused');
  let r = await page.request.post(url, { form: form('forged.csrf.example', forged), maxRedirects: 0 });
  check(r.status() === 403, `POST ${O}/assets with a forged csrf answers 403; got ${r.status()}`);

  step('a missing token is refused');
  r = await page.request.post(url, { form: form('missing.csrf.example'), maxRedirects: 0 });
  check(r.status() === 403, `POST ${O}/assets without csrf answers 403; got ${r.status()}`);

  step('the real token from another Origin is refused');
  r = await page.request.post(url, { form: form('origin.csrf.example', token), headers: { Origin: 'http://evil.example' }, maxRedirects: 0 });
  check(r.status() === 403, `POST ${O}/assets with the real token and Origin: http://evil.example answers 403; got ${r.status()}`);

  step('none of them created an asset');
  const list = await api('GET', `/api/orgs/${ORG}/assets?q=csrf.example&limit=100`);
  check(list.status === 200, `GET /api/orgs/{org}/assets answers 200; got ${list.status}`);
  check(list.json.data.length === 0, `no asset was created by the refused posts; found ${JSON.stringify(list.json.data.map((a) => a.value))}`);

  step('control: the real token from this origin is accepted');
  r = await page.request.post(url, { form: form('control.csrf.example', token), headers: { Origin: BASE }, maxRedirects: 0 });
  check(r.status() === 303, `the same post with the real token answers 303; got ${r.status()}`);
  const made = await api('GET', `/api/orgs/${ORG}/assets?q=control.csrf.example`);
  for (const a of made.json?.data ?? []) await api('DELETE', `/api/orgs/${ORG}/assets/${a.id}`);
}

// ---------------------------------------------------------------------------------------------------------
// 9. Signing out, and what a viewer sees

async function viewerJourney(page) {
  step('Sign out', page);
  await goto(page, O);
  await navigating(page, () => page.getByRole('button', { name: 'Sign out' }).click());
  check(path(page) === '/login', `Sign out lands on /login; landed on ${page.url()}`);
  const out = (await page.locator('main .flash').count()) ? await text(page.locator('main .flash')) : '';
  check(out === 'You are signed out.', `the sign-in page says "You are signed out."; saw ${JSON.stringify(out)}`);
  await goto(page, O);
  check(path(page) === '/login', `after signing out ${O} redirects to /login; went to ${page.url()}`);

  step('sign in as the viewer');
  await page.locator('#email').fill(VIEWER.email);
  await page.locator('#password').fill(VIEWER.password);
  await navigating(page, () => page.getByRole('button', { name: 'Sign in' }).click());
  check(path(page) === O, `the viewer lands back on ${O}; landed on ${page.url()}`);
  const account = await text(page.locator('header .account'));
  check(account.includes(VIEWER.email) && account.includes('VIEWER'), `the header shows the viewer and the role; saw ${JSON.stringify(account)}`);

  step('no "Audit trail" in the navigation, and its page is refused');
  check((await page.locator('nav.main-nav a', { hasText: 'Audit trail' }).count()) === 0, 'a viewer has no "Audit trail" link');
  expectedErrorDocs.add(BASE + `${O}/audit`);
  const audit = await page.request.get(`${BASE}${O}/audit`);
  expectedErrorDocs.delete(BASE + `${O}/audit`);
  check(audit.status() === 403, `a viewer's GET ${O}/audit is 403; got ${audit.status()}`);

  step('Assets: no "Add asset"');
  await clickNav(page, 'Assets');
  check((await page.locator('#assets-table tbody tr').count()) > 0, 'the viewer sees the assets');
  check((await page.getByRole('link', { name: /add (your first )?asset/i }).count()) === 0, 'the viewer has no "Add asset" link');

  step("an asset's detail: no Scan now, Edit or Delete");
  await goto(page, `${O}/assets/${state.assetId}`);
  for (const name of ['Scan now', 'Delete']) {
    check((await page.getByRole('button', { name, exact: true }).count()) === 0, `the viewer has no "${name}" button`);
  }
  check((await page.getByRole('link', { name: 'Edit', exact: true }).count()) === 0, 'the viewer has no "Edit" link');
  check((await page.locator('main form[method=post]').count()) === 0, 'the viewer has no form posting anything on the asset page');

  step('Alerts: no bulk buttons, no checkboxes');
  await clickNav(page, 'Alerts');
  check((await page.locator('#alert-rows tr[data-alert]').count()) > 0, 'the viewer sees the alerts');
  for (const name of ['Acknowledge selected', 'Resolve selected']) {
    check((await page.getByRole('button', { name }).count()) === 0, `the viewer has no "${name}" button`);
  }
  check((await page.locator('#alerts-table input[type=checkbox]').count()) === 0, 'the viewer has no checkboxes in the alerts table');

  step('Tools: no run form');
  await clickNav(page, 'Tools');
  check((await page.locator(`form[action="${O}/tools/run"]`).count()) === 0, 'the viewer has no run form');
  check((await page.getByRole('button', { name: 'Run', exact: true }).count()) === 0, 'the viewer has no Run button');

  step("a post with the viewer's real token is refused");
  const token = await csrfToken(page);
  const r = await page.request.post(`${BASE}${O}/assets`, { form: { csrf: token, type: 'DOMAIN', value: 'viewer.example', label: '' }, maxRedirects: 0 });
  check(r.status() === 403, `a viewer's POST ${O}/assets answers 403; got ${r.status()}`);
  const list = await api('GET', `/api/orgs/${ORG}/assets?q=viewer.example`);
  check(list.json?.data?.length === 0, 'the viewer created no asset');
}

// ---------------------------------------------------------------------------------------------------------
// 10. Every page: accessibility, other origins, console, width at 360 px, screenshots, metrics

async function axeViolations(page) {
  await page.evaluate(AXE_SOURCE); // not addScriptTag: the CSP (rightly) refuses inline scripts
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')), count: v.nodes.length }));
  });
}

/**
 * The innermost elements that reach past the 360 px viewport, as short CSS paths with their right edge.
 * Elements inside a scrolling box (a table's wrapper, the nav) are left out unless absolutely positioned,
 * which can escape a box that is not their containing block.
 */
async function overflowing(page) {
  return page.evaluate(() => {
    const name = (e) => e.tagName.toLowerCase() + (e.id ? `#${e.id}` : '') + [...e.classList].map((c) => `.${c}`).join('');
    const clipped = (e) => {
      if (['absolute', 'fixed'].includes(getComputedStyle(e).position)) return false;
      for (let x = e.parentElement; x && x !== document.body; x = x.parentElement) if (getComputedStyle(x).overflowX !== 'visible') return true;
      return false;
    };
    const wide = [...document.body.querySelectorAll('*')].filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && !clipped(e));
    return wide
      .filter((e) => !wide.some((o) => o !== e && e.contains(o)))
      .slice(0, 5)
      .map((e) => {
        const p = [];
        for (let x = e; x && x !== document.body && p.length < 4; x = x.parentElement) p.unshift(name(x));
        return `${p.join(' > ')} (right ${Math.round(e.getBoundingClientRect().right)} px)`;
      });
  });
}

async function auditPage(storageState, name, pagePath, expectStatus, metrics) {
  step(`${name}: ${pagePath}`);
  const ctx = await newContext({ storageState }); // fresh context: cold cache for the byte count
  const page = await newPage(ctx);
  try {
    if (expectStatus !== 200) expectedErrorDocs.add(BASE + stripQuery(pagePath));
    const resp = await goto(page, pagePath);
    check(resp.status() === expectStatus, `${pagePath} answers ${expectStatus}; got ${resp.status()} at ${page.url()}`);
    check(stripQuery(page.url()) === BASE + stripQuery(pagePath), `${pagePath} is shown (not redirected); at ${page.url()}`);

    await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint').length > 0, null, { timeout: 5000 }).catch(() => {});
    const m = await page.evaluate(() => {
      const res = performance.getEntriesByType('resource').filter((r) => ['script', 'link', 'css'].includes(r.initiatorType) || /\.(js|css)(\?|$)/.test(r.name));
      const bytes = res.reduce((sum, r) => sum + (r.transferSize || r.encodedBodySize || 0), 0);
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return { jsCssBytes: bytes, fcpMs: fcp ? Math.round(fcp.startTime) : null, files: res.length };
    });
    check(m.fcpMs !== null, `${name}: first-contentful-paint is recorded`);
    metrics[name] = { jsCssBytes: m.jsCssBytes, fcpMs: m.fcpMs };

    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      const v = await axeViolations(page);
      check(v.length === 0,
        `${name} (${scheme}) has no serious or critical axe violation; found:\n${v.map((x) => `  - ${x.id} [${x.impact}] ${x.help} (${x.count} node(s), e.g. ${x.targets.join(' | ')})`).join('\n')}`);
      await page.screenshot({ path: join(SHOTS, `${name}-desktop-${scheme}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 360, height: 780 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    check(width <= 361, `${name} fits 360 px: document.documentElement.scrollWidth is ${width}; too wide: ${JSON.stringify(await overflowing(page))}`);
    for (const scheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: join(SHOTS, `${name}-mobile-${scheme}.png`), fullPage: true });
    }
    assertNoProblems();
  } finally {
    await ctx.close();
  }
}

async function everyPageJourney(storageState) {
  const metrics = {};
  const pages = [
    ['overview', O, 200],
    ['assets', `${O}/assets`, 200],
    ['asset-new', `${O}/assets/new`, 200],
    ['asset-detail', `${O}/assets/${state.assetId}`, 200],
    ['tools', `${O}/tools`, 200],
    ['report', `${O}/reports/${state.reportId}`, 200],
    ['alerts', `${O}/alerts`, 200],
    ['alert-detail', `${O}/alerts/${state.alertId}`, 200],
    ['keys', `${O}/keys`, 200],
    ['rules', `${O}/rules`, 200],
    ['rule-new', `${O}/rules/new?tool=ip-reputation`, 200],
    ['rule-edit', `${O}/rules/${state.ruleId}`, 200],
    ['application-keys', `${O}/application-keys`, 200],
    ['usage', `${O}/usage`, 200],
    ['audit', `${O}/audit`, 200],
    ['members', `${O}/members`, 200],
    ['settings', `${O}/settings`, 200],
    ['agents', `${O}/agents`, 200],
    ...(state.agentPath ? [['agent-detail', state.agentPath, 200]] : []),
    ['vulnerabilities', `${O}/vulnerabilities`, 200],
    ['not-found', `${O}/alerts/00000000-0000-0000-0000-000000000000`, 404],
  ];
  for (const [name, p, status] of pages) await auditPage(storageState, name, p, status, metrics);
  await auditPage({ cookies: [], origins: [] }, 'sign-in', '/login', 200, metrics);
  return metrics;
}

// ---------------------------------------------------------------------------------------------------------
// 11. Keyboard: the first Tab reaches "Skip to content", visibly

async function keyboardJourney(storageState) {
  const ctx = await newContext({ storageState });
  const page = await newPage(ctx);
  try {
    step('Tab on the overview', page);
    await goto(page, O);
    await page.keyboard.press('Tab');
    const f = await page.evaluate(() => {
      const e = document.activeElement;
      const s = getComputedStyle(e);
      return { tag: e.tagName, text: e.textContent.trim(), href: e.getAttribute('href'), outline: s.outlineStyle, outlineWidth: s.outlineWidth, shadow: s.boxShadow };
    });
    check(f.tag === 'A' && f.text === 'Skip to content' && f.href === '#main', `the first Tab focuses the "Skip to content" link; focused ${JSON.stringify(f)}`);
    const outlined = f.outline !== 'none' && parseFloat(f.outlineWidth) > 0;
    check(outlined || (f.shadow && f.shadow !== 'none'), `the focused link has a visible outline or box-shadow; outline ${f.outline} ${f.outlineWidth}, box-shadow ${f.shadow}`);
    const visible = await page.locator('a.skip').boundingBox();
    check(visible && visible.y >= 0 && visible.width > 0, `the focused skip link is on screen; box ${JSON.stringify(visible)}`);
    await page.keyboard.press('Enter');
    check(page.url().endsWith('#main'), `Enter on it goes to #main; URL ${page.url()}`);
    assertNoProblems();
  } finally {
    await ctx.close();
  }
}

// ---------------------------------------------------------------------------------------------------------

async function journey(name, fn) {
  where.journey = name;
  where.step = '';
  const started = Date.now();
  const result = await fn();
  assertNoProblems();
  console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return result;
}

async function main() {
  const started = Date.now();
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });

  const { ctx, page } = await journey('1. sign in', signInJourney);
  await journey('2. alert rule (JSON API)', alertRuleJourney);
  await journey('3. assets', () => assetsJourney(page));
  await journey('4. tool run, live', () => toolRunJourney(page));
  await journey('5. alerts, live', () => alertsJourney(page));
  await journey('5b. alert rules, dry run', () => rulesJourney(page));
  await journey('6. API keys', () => keysJourney(page));
  await journey('6b. application keys, usage, audit trail', () => hawkAuditJourney(page));
  await journey('6c. members, settings, a real agent, vulnerabilities', () => membersAgentsJourney(page));
  await journey('7. tenancy', () => tenancyJourney(page));
  await journey('8. CSRF', () => csrfJourney(page));
  await journey('9. sign out, viewer', () => viewerJourney(page));
  await ctx.close();

  // The owner again, in a context of its own, for the page audit and the keyboard check.
  const owner = await newContext();
  const ownerPage = await newPage(owner);
  where.journey = '10. every page';
  step('sign the owner in again', ownerPage);
  await signIn(ownerPage, OWNER, O);
  check(path(ownerPage) === O, `the owner signs in again; landed on ${ownerPage.url()}`);
  const storageState = await owner.storageState();
  await owner.close();
  const metrics = await journey('10. every page (axe, origins, console, 360 px, screenshots, metrics)', () => everyPageJourney(storageState));
  await journey('11. keyboard', () => keyboardJourney(storageState));

  await browser.close();
  console.log(`all dashboard journeys passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`DASHBOARD_METRICS ${JSON.stringify(metrics)}`);
}

main().catch(async (e) => {
  const url = (() => {
    try {
      return where.page?.url() ?? '';
    } catch {
      return '';
    }
  })();
  const kind = e instanceof Failure ? 'expected' : 'error';
  console.error(`FAIL ${where.journey}${where.step ? ` › ${where.step}` : ''}`);
  console.error(`  ${kind}: ${e instanceof Failure ? e.message : e.stack ?? e}`);
  if (url) console.error(`  page: ${url}`);
  try {
    await browser?.close();
  } catch {
    /* closing anyway */
  }
  process.exit(1);
});
