#!/usr/bin/env node
// Independent Hawk client for tlink's integration tests, built on the npm `hawk` package (mozilla, 9.0.x),
// installed by `npm ci` in this directory.
//
// Threat Stack's Node examples sign with it: Hawk id = user id, key = API key, sha256, ext = organization id.
// This script drives one scenario against a running server and prints one line per step, `ok <step>`,
// `skip <step>: reason` or `FAIL <step>: reason`; it exits 1 at the first failure and 0 when every step
// behaved as expected.
//
// Configuration, as in Threat Stack's examples (all but the last required):
//   TS_USER_ID, TS_API_KEY, TS_ORGANIZATION_ID
//   TS_HOST                   base URL, e.g. http://127.0.0.1:38211 (a bare host means https://host)
//   TS_OTHER_ORGANIZATION_ID  a well-formed org id that is not the user's (step wrong-org; skipped if unset)
//
// HTTP goes through Node's own http/https modules (Hawk.client.authenticate reads node's `res.headers`).

import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';

import Hawk from 'hawk';

const TIMEOUT_MS = 30000;

class StepFailed extends Error {}

function env(name, required = true) {
  const value = process.env[name];
  if (value === undefined || value === '') {
    if (required) {
      console.log(`FAIL config: environment variable '${name}' is required`);
      process.exit(1);
    }
    return undefined;
  }
  return value;
}

const userId = env('TS_USER_ID');
const apiKey = env('TS_API_KEY');
const orgId = env('TS_ORGANIZATION_ID');
let tsHost = env('TS_HOST');
const otherOrgId = env('TS_OTHER_ORGANIZATION_ID', false);

if (!tsHost.includes('://')) {
  tsHost = `https://${tsHost}`;
}
let base;
try {
  base = new URL(tsHost.replace(/\/+$/, ''));
} catch (err) {
  base = null;
}
if (!base || (base.protocol !== 'http:' && base.protocol !== 'https:')) {
  console.log(`FAIL config: TS_HOST must be a base URL such as http://127.0.0.1:8080, got '${tsHost}'`);
  process.exit(1);
}
const basePath = base.pathname.replace(/\/+$/, '');

const credentials = { id: userId, key: apiKey, algorithm: 'sha256' };

// Absolute URL for a path (with query) below TS_HOST; it is what gets signed.
function urlFor(pathAndQuery) {
  return `${base.protocol}//${base.host}${basePath}${pathAndQuery}`;
}

// Send one request; resolve to { res, body } with the body as the exact bytes received.
function send(method, pathAndQuery, authorization, body, contentType) {
  const headers = { Authorization: authorization, Accept: 'application/json' };
  if (body !== undefined) {
    headers['Content-Type'] = contentType;
    headers['Content-Length'] = Buffer.byteLength(body);
  }
  const transport = base.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request({
      hostname: base.hostname.replace(/^\[|\]$/g, ''),
      port: base.port || undefined,
      path: basePath + pathAndQuery,
      method,
      headers,
      timeout: TIMEOUT_MS,
    }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ res, body: Buffer.concat(chunks) }));
      res.on('error', (err) => reject(new StepFailed(`${method} ${pathAndQuery}: ${err.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (err) => reject(new StepFailed(`${method} ${pathAndQuery}: ${err.message}`)));
    if (body !== undefined) {
      req.write(body);
    }
    req.end();
  });
}

// The response must carry Server-Authorization and hawk must accept it (MAC and payload hash).
function verifyResponse(res, body, artifacts) {
  if (!res.headers['server-authorization']) {
    throw new StepFailed('response has no Server-Authorization header');
  }
  try {
    Hawk.client.authenticate(res, credentials, artifacts, { payload: body, required: true });
  } catch (err) {
    throw new StepFailed(`hawk rejected the response (${err.message}); ` +
      `Server-Authorization: ${res.headers['server-authorization']}`);
  }
}

function expectStatus(res, expected, body) {
  if (res.statusCode !== expected) {
    throw new StepFailed(`expected status ${expected}, got ${res.statusCode}: ${body.toString('utf8').slice(0, 300)}`);
  }
}

function parseJson(body) {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new StepFailed(`response body is not JSON (${err.message}): ${body.toString('utf8').slice(0, 300)}`);
  }
}

// Threat Stack's GET examples: no body, so no payload hash.
function signedGet(pathAndQuery, ext = orgId) {
  return Hawk.client.header(urlFor(pathAndQuery), 'GET', { credentials, ext });
}

const org = encodeURIComponent(orgId);

async function stepSelfTest() {
  const path = '/help/hawk/self-test';
  const { header, artifacts } = signedGet(path);
  const { res, body } = await send('GET', path, header);
  expectStatus(res, 200, body);
  verifyResponse(res, body, artifacts);
}

async function stepListAssets() {
  const path = `/api/orgs/${org}/assets?limit=2&type=DOMAIN`;
  const { header, artifacts } = signedGet(path);
  const { res, body } = await send('GET', path, header);
  expectStatus(res, 200, body);
  verifyResponse(res, body, artifacts);
  const doc = parseJson(body);
  if (!doc || typeof doc !== 'object' || doc.success !== true) {
    throw new StepFailed(`expected "success": true, got ${JSON.stringify(doc).slice(0, 300)}`);
  }
}

function randomLabel(length) {
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  let label = '';
  for (const byte of crypto.randomBytes(length)) {
    label += letters[byte % letters.length];
  }
  return label;
}

async function stepCreateAsset() {
  const path = `/api/orgs/${org}/assets`;
  const payload = JSON.stringify({ type: 'DOMAIN', value: `nodehawk${randomLabel(10)}.example.com` });
  const contentType = 'application/json';
  const { header, artifacts } = Hawk.client.header(urlFor(path), 'POST', {
    credentials, ext: orgId, payload, contentType,
  });
  if (!artifacts.hash) {
    throw new StepFailed('hawk did not include a payload hash');
  }
  const { res, body } = await send('POST', path, header, payload, contentType);
  expectStatus(res, 201, body);
  verifyResponse(res, body, artifacts);
  const doc = parseJson(body);
  const data = doc && typeof doc === 'object' ? doc.data : undefined;
  if (!data || typeof data !== 'object' || data.id === undefined || data.id === null || data.id === '') {
    throw new StepFailed(`expected data.id in the response, got ${JSON.stringify(doc).slice(0, 300)}`);
  }
}

async function stepTamperedQuery() {
  const { header } = signedGet(`/api/orgs/${org}/assets?limit=2`);
  const { res, body } = await send('GET', `/api/orgs/${org}/assets?limit=3`, header);
  expectStatus(res, 401, body);
  const www = res.headers['www-authenticate'] || '';
  if (!www.startsWith('Hawk')) {
    throw new StepFailed(`expected a WWW-Authenticate header starting with Hawk, got '${www}'`);
  }
}

async function stepWrongOrg() {
  const path = '/help/hawk/self-test';
  const { header } = signedGet(path, otherOrgId);
  const { res, body } = await send('GET', path, header);
  expectStatus(res, 401, body);
}

const steps = [
  ['self-test', stepSelfTest],
  ['list-assets', stepListAssets],
  ['create-asset', stepCreateAsset],
  ['tampered-query', stepTamperedQuery],
  ['wrong-org', stepWrongOrg],
];

async function main() {
  for (const [name, step] of steps) {
    if (name === 'wrong-org' && otherOrgId === undefined) {
      console.log(`skip ${name}: TS_OTHER_ORGANIZATION_ID not set`);
      continue;
    }
    try {
      await step();
    } catch (err) {
      const reason = err instanceof StepFailed ? err.message : `${err.name}: ${err.message}`;
      console.log(`FAIL ${name}: ${reason}`);
      return 1;
    }
    console.log(`ok ${name}`);
  }
  return 0;
}

process.exitCode = await main();
