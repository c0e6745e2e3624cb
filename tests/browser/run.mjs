// careledger's pages in a real browser: Debian's Chromium driven by playwright-core.
//
// Starts `careledger serve --demo` on a free port in a new folder, then each role signs in
// through the pages and does its main job end to end. Every page visited is checked with
// axe-core (WCAG 2.2 A and AA rules) in standard and large print, for reflow at 320 px, and
// each page view is checked to have left exactly one access event. With SCREENSHOTS=DIR it
// also writes a PNG of each role's main page in standard and large print.
//
//   node tests/browser/run.mjs            (CARELEDGER_BIN: the binary, default target/debug)
//
// Exit status 0 when every check passed; each failure is printed with what was expected.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const bin = process.env.CARELEDGER_BIN || join(root, 'target', 'debug', 'careledger');
const shots = process.env.SCREENSHOTS ? resolve(process.env.SCREENSHOTS) : null;
const data = mkdtempSync(join(tmpdir(), 'careledger-browser-'));

let failures = 0;
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}
function log(...a) { console.log(...a); }

// ---------------------------------------------------------------- the service

function startServer() {
  return new Promise((resolveStart, reject) => {
    const child = spawn(bin, ['serve', '--demo', '--quiet', '--data', join(data, 'ledger'), '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve --demo did not start in 240 s:\n${err}`)), 240_000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('curl $B/openapi.json')) {
        clearTimeout(timer);
        const base = out.match(/serving .* on (http:\/\/[0-9.:]+)/)[1];
        const links = {};
        const tokens = {};
        for (const line of out.split('\n')) {
          let m = line.match(/^\s+(.+?)\s{2,}(\S+)\s+(http\S+\/demo\/\S+)$/);
          if (m) links[m[2]] = m[3];
          m = line.match(/^\s+(.+?)\s{2,}(\S+)\s+(clt_\S+)$/);
          if (m) tokens[m[2]] = m[3];
        }
        resolveStart({ child, base, links, tokens });
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${err}`)));
  });
}

// ---------------------------------------------------------------- helpers

const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const axeSeen = new Set();

/// axe-core on the page as it is now, once per (what the test calls it, display).
async function axe(page, label) {
  const display = await page.evaluate(() => document.body.className);
  const key = `${label}|${display}`;
  if (axeSeen.has(key)) return;
  axeSeen.add(key);
  const result = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  for (const v of result.violations) {
    check(false, `${label} (${display}): axe ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')}`);
  }
  if (result.violations.length === 0) checks++;
  // What every page must have, whatever axe says.
  const lang = await page.evaluate(() => document.documentElement.lang);
  check(lang === 'en-GB', `${label}: lang is ${lang}`);
  const skip = await page.locator('a.skip-link[href="#main"]').count();
  check(skip === 1, `${label}: has a skip link`);
  const title = await page.title();
  check(/ – careledger$/.test(title), `${label}: title "${title}" names the page and the service`);
}

/// The page at 320 px wide does not scroll sideways (WCAG 1.4.10).
async function reflow(page, label) {
  const size = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 800 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 320, `${label}: at 320 px the page is ${wide} px wide`);
  await page.setViewportSize(size);
}

/// A time `ms` milliseconds since the epoch as UK date and time fields take it.
function ukParts(ms) {
  const f = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/London', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, time: `${p.hour}:${p.minute}` };
}

async function visit(page, path, label) {
  const r = await page.goto(base + path);
  await axe(page, label);
  return r;
}

async function api(path, token, init = {}) {
  const r = await fetch(base + path, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}` } });
  return r;
}

/// The access events of `person` after event `after`, as the registered manager sees them
/// through the API (that read appends one event of its own, after the ones it returns).
async function accessesSince(person, after) {
  const q = `/v1/audit/access?person=${person}` + (after === null ? '' : `&after=${after}`);
  const r = await api(q, tokens['staff-rm01']);
  const body = await r.json();
  if (!r.ok) throw new Error(`audit query: ${r.status} ${JSON.stringify(body)}`);
  return body;
}

/// The number just after `person`'s latest access event.
async function mark(person) {
  const body = await accessesSince(person, null);
  let last = body.access_events[0];
  let page = body;
  while (page.next_after !== null) {
    page = await accessesSince(person, page.next_after);
    last = page.access_events[0];
  }
  return last;
}

/// Checks that what `view` does left exactly one access event on `person`'s record, by
/// `actor`, of `kind`.
async function oneAccess(person, actor, kind, label, view) {
  await accessKinds(person, actor, [kind], label, view);
}

/// Checks that what `view` does left exactly these access events, in order, all by `actor`.
async function accessKinds(person, actor, kinds, label, view) {
  const before = await mark(person);
  await view();
  const after = await accessesSince(person, before);
  const seen = after.items.map((i) => [i.event, i.kind, i.actor]);
  const ok = after.items.length === kinds.length
    && after.items.every((i, n) => i.actor === actor && i.kind === kinds[n]);
  check(ok, `${label}: expected ${kinds.join(', ')} by ${actor}, found ${JSON.stringify(seen)}`);
}

async function signInDemo(context, user) {
  const page = await context.newPage();
  await page.goto(links[user]);
  await axe(page, `demo sign-in (${user})`);
  await page.getByRole('button', { name: `Sign in as ${user}` }).click();
  await page.waitForLoadState();
  return page;
}

async function shot(page, name) {
  if (!shots) return;
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

async function setDisplay(page, value) {
  await page.selectOption('#display', value);
  await page.getByRole('button', { name: 'Change' }).click();
  await page.waitForLoadState();
}

/// Screenshots of the page in standard and large print (left in standard), with axe-core
/// run on the large-print one too.
async function shots2(page, name, label) {
  if (!shots) {
    await setDisplay(page, 'large');
    await axe(page, `${label}, large print`);
    await setDisplay(page, 'standard');
    return;
  }
  await shot(page, `${name}-standard`);
  await setDisplay(page, 'large');
  await axe(page, `${label}, large print`);
  await shot(page, `${name}-large`);
  await setDisplay(page, 'standard');
}

// ---------------------------------------------------------------- the run

const { child, base, links, tokens } = await startServer();
log(`careledger serving on ${base}; ${Object.keys(links).length} demo sign-in links`);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const newContext = () => browser.newContext({ viewport: { width: 1024, height: 800 }, acceptDownloads: true });

try {
  // The sign-in page, by keyboard alone: a care worker sets a password from an invitation
  // made with `careledger user invite`, then signs in with Tab, typing and Enter.
  {
    const link = execFileSync(bin, ['user', 'invite', '--data', join(data, 'ledger'), 'staff-cw01', '--base', base]).toString().trim();
    check(link.startsWith(`${base}/invitation/inv_`), `user invite prints a link (${link})`);
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(link);
    await axe(page, 'set password');
    await page.fill('#password', 'short');
    await page.fill('#confirm', 'short');
    await page.getByRole('button', { name: 'Set password' }).click();
    check(await page.locator('.error-summary a[href="#password"]').count() === 1, 'a short password is refused, with the error summary linking to the field');
    await axe(page, 'set password, with an error');
    const password = 'correct horse battery staple';
    await page.fill('#password', password);
    await page.fill('#confirm', password);
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.waitForURL(/\/sign-in\?done=password-set/);
    check((await page.textContent('main')).includes('Your password is set'), 'the password is set and the sign-in page says so');
    // The link works once.
    const again = await context.newPage();
    const r = await again.goto(link);
    check(r.status() === 404, `a used invitation is refused (status ${r.status()})`);
    await again.close();
    // A wrong password: refused, recorded, and the page says so by the field.
    await page.fill('#user', 'staff-cw01');
    await page.fill('#password', 'not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    check((await page.textContent('.error-summary')).includes('Enter a correct user ID and password'), 'a wrong password is refused with a clear message');
    await axe(page, 'sign in, with an error');
    // Keys only.
    await page.goto(`${base}/sign-in`);
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.className) === 'skip-link', 'the first Tab reaches the skip link');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    check(await page.evaluate(() => document.activeElement.id) === 'user', 'Tab reaches the user ID field');
    await page.keyboard.type('staff-cw01');
    await page.keyboard.press('Tab');
    await page.keyboard.type(password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/`);
    check((await page.textContent('h1')).startsWith('Hello'), 'signed in by keyboard alone, home page shown');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'careledger');
    check(session && session.httpOnly && session.sameSite === 'Strict', `the session cookie is HttpOnly and SameSite=Strict (${JSON.stringify(session)})`);
    await context.close();
  }

  // The person gives a family member access to the care plan; the family member reads it;
  // the person sees that read in "who looked" and takes the access back.
  {
    const personCtx = await newContext();
    const person = await signInDemo(personCtx, 'person-0001');
    check(person.url() === `${base}/people/person-0001`, `the person's home is their record (${person.url()})`);
    await axe(person, 'my record');
    await shot(person, 'person-standard');
    await reflow(person, 'my record');
    await oneAccess('person-0001', 'person-0001', 'access.read', 'the person opens their care plan', async () => {
      await person.getByRole('link', { name: 'My care plan' }).click();
      await person.waitForLoadState();
    });
    await axe(person, 'my care plan');
    await reflow(person, 'my care plan');
    await person.getByRole('link', { name: 'Who can see my record' }).click();
    await axe(person, 'who can see my record');
    await person.fill('#grantee', 'family-0001');
    await person.check('#categories-0'); // My care plan
    await person.getByRole('button', { name: 'Give access' }).click();
    await person.waitForURL(/sharing\?recorded=/);
    check((await person.textContent('main')).includes('family-0001'), 'the access given is listed');

    const familyCtx = await newContext();
    const family = await signInDemo(familyCtx, 'family-0001');
    await visit(family, '/people', 'family: people');
    await oneAccess('person-0001', 'family-0001', 'access.read', 'the family member reads the care plan', async () => {
      const r = await family.goto(`${base}/people/person-0001/care-plan`);
      check(r.status() === 200, `the family member may read the care plan (status ${r.status()})`);
    });
    check((await family.textContent('h1')) === 'Care plan', 'the family member sees the care plan');
    await axe(family, 'family: care plan');
    await shots2(family, 'family', 'family: care plan');
    // What was not given stays closed, and the refusal is recorded.
    await oneAccess('person-0001', 'family-0001', 'access.refused', 'the family member asks for the medicines', async () => {
      const r = await family.goto(`${base}/people/person-0001/medicines`);
      check(r.status() === 403, `medicines were not given (status ${r.status()})`);
    });
    await axe(family, 'family: refused');

    await person.goto(`${base}/people/person-0001/who-looked`);
    const looked = await person.textContent('main');
    check(/family-0001, family member or carer, read your care plan/.test(looked), `who looked names the family member's read in plain words: ${looked.slice(0, 600)}`);
    await axe(person, 'who looked');
    await person.goto(`${base}/people/person-0001/sharing`);
    await person.getByRole('button', { name: /Take back access from family-0001/ }).click();
    await person.waitForURL(/sharing\?recorded=/);
    const r = await family.goto(`${base}/people/person-0001/care-plan`);
    check(r.status() === 403, `after the access is taken back the family member is refused (status ${r.status()})`);

    // Sharing with another service, agreed on the same page: it lets the provider hand
    // the medicines over to the day centre, and opens nothing to them.
    await person.goto(`${base}/people/person-0001/sharing`);
    const share = person.locator('form[action$="/sharing/partners"]');
    await share.getByLabel(/^Riverside day centre/).check();
    await share.getByLabel('My medicines and allergies', { exact: true }).check();
    await share.getByRole('button', { name: 'Agree to share' }).click();
    await person.waitForURL(/sharing\?recorded=/);
    check((await person.textContent('main')).includes('Riverside day centre'), 'sharing with the day centre is listed');
    await axe(person, 'who can see my record, sharing with a service');

    // Large print: chosen on a page, remembered, and still accessible.
    await person.goto(`${base}/people/person-0001`);
    await setDisplay(person, 'large');
    const size = await person.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
    const line = await person.evaluate(() => parseFloat(getComputedStyle(document.body).lineHeight) / parseFloat(getComputedStyle(document.body).fontSize));
    check(size >= 18 && line >= 1.5, `large print is at least 18 px with 1.5 spacing (${size} px, ${line})`);
    await axe(person, 'my record, large print');
    await shot(person, 'person-large');
    await reflow(person, 'my record, large print');
    for (const p of ['care-plan', 'who-looked', 'sharing', 'daily-notes', 'medicines', 'choices']) {
      await visit(person, `/people/person-0001/${p}`, `person ${p}, large print`);
    }
    const again = await personCtx.newPage();
    await again.goto(`${base}/people/person-0001`);
    check(await again.evaluate(() => document.body.className) === 'display-large', 'the display choice is remembered');
    await setDisplay(again, 'easy');
    await axe(again, 'my record, easy read');
    await setDisplay(again, 'contrast');
    await axe(again, 'my record, high contrast');
    await setDisplay(again, 'standard');
    for (const p of ['care-plan', 'who-looked', 'sharing', 'daily-notes', 'medicines', 'choices']) {
      await visit(again, `/people/person-0001/${p}`, `person ${p}`);
    }
    // The person adds their own entry, attributed to them.
    await again.goto(`${base}/people/person-0001/daily-notes`);
    await again.fill('#text', 'I slept well and would like my tea earlier.');
    await again.getByRole('button', { name: 'Add note' }).click();
    await again.waitForURL(/daily-notes\?recorded=/);
    check((await again.textContent('main')).includes('Written by the person'), 'the person\'s own note is attributed to them');
    await personCtx.close();
    await familyCtx.close();
  }

  // A care worker records a dose, then sees the minimum-interval refusal by the field.
  {
    const context = await newContext();
    const cw = await signInDemo(context, 'staff-cw01');
    await axe(cw, 'care worker home');
    await visit(cw, '/people', 'care worker: people');
    await reflow(cw, 'care worker: people');
    await oneAccess('person-0001', 'staff-cw01', 'access.read', 'the care worker opens the MAR', async () => {
      await cw.goto(`${base}/people/person-0001/medicines`);
    });
    await axe(cw, 'MAR');
    await reflow(cw, 'MAR');
    await shots2(cw, 'care-worker', 'MAR');
    // The MAR page's print links: standard print answers a PDF, through the gate (one
    // access event), with the reference every page carries.
    const printLink = cw.getByRole('link', { name: 'Standard print (PDF)' });
    check(await printLink.count() === 1, 'the MAR page has a standard print link');
    check(await cw.getByRole('link', { name: 'Large print (PDF)' }).count() === 1, 'the MAR page has a large print link');
    const printHref = await printLink.getAttribute('href');
    await oneAccess('person-0001', 'staff-cw01', 'access.read', 'the care worker prints the MAR chart', async () => {
      const r = await cw.request.get(`${base}${printHref}`);
      check(r.status() === 200, `the MAR chart printed (status ${r.status()})`);
      check((r.headers()['content-type'] || '') === 'application/pdf', `the MAR chart is a PDF (${r.headers()['content-type']})`);
      const body = await r.body();
      check(body.subarray(0, 5).toString() === '%PDF-', 'the MAR chart starts %PDF-');
      check(/^CL1:mar:/.test(r.headers()['careledger-reference'] || ''), 'the MAR chart names its reference');
    });
    const form = cw.locator('form[action*="/medicines/"]').first();
    const action = await form.getAttribute('action');
    const med = action.split('/').pop();
    // Twice: the second dose within the minimum interval is refused by the care rules.
    for (let i = 0; i < 2; i++) {
      const f = cw.locator(`form[action="${action}"]`);
      await f.locator(`#outcome-${med}-0`).check();
      await f.locator(`#dose-${med}`).fill('one tablet');
      await f.getByRole('button').click();
      await cw.waitForLoadState();
      if (i === 0 && cw.url().includes('recorded=')) continue;
      if (i === 0) {
        // Given too recently in the demo already: the refusal shows on the first try.
        break;
      }
    }
    const summary = cw.locator('.error-summary');
    check(await summary.count() === 1, 'a dose too soon after the last shows the error summary');
    const linkTo = await summary.locator('a').first().getAttribute('href');
    check(linkTo === `#outcome-${med}`, `the summary links to the dose field (${linkTo})`);
    const byField = await cw.locator(`#outcome-${med} .error-message`).textContent();
    check(/minimum|interval|too soon|hours/i.test(byField), `the refusal is shown by the field: "${byField}"`);
    check((await cw.title()).startsWith('Error:'), 'the page title starts with Error:');
    await axe(cw, 'MAR, with a refusal');
    // A visit: started, a task recorded in it, ended.
    await cw.goto(`${base}/people/person-0002/daily-notes`);
    await cw.getByRole('button', { name: 'Start visit' }).click();
    await cw.waitForURL(/daily-notes\?recorded=/);
    await axe(cw, 'daily notes, visit in progress');
    const visitId = await cw.locator('input[name="visit"]').first().inputValue();
    await cw.fill(`#task-${visitId}`, 'Breakfast');
    await cw.check(`#outcome-${visitId}-0`);
    await cw.getByRole('button', { name: 'Record task' }).first().click();
    await cw.waitForURL(/daily-notes\?recorded=/);
    await cw.locator(`form[action$="/visits/${visitId}/end"] button`).click();
    await cw.waitForURL(/daily-notes\?recorded=/);
    const visitText = await cw.textContent('main');
    check(visitText.includes('Task: Breakfast') && visitText.includes('Visit completed'), 'the visit and its task are in the daily notes');
    // A diary note holding a script shows as text.
    await cw.goto(`${base}/people/person-0001/daily-notes`);
    let dialog = false;
    cw.on('dialog', (d) => { dialog = true; d.dismiss(); });
    await cw.fill('#text', '<script>alert(1)</script>');
    await cw.getByRole('button', { name: 'Add note' }).click();
    await cw.waitForURL(/daily-notes\?recorded=/);
    check((await cw.textContent('main')).includes('<script>alert(1)</script>'), 'a note holding a script shows as text');
    check(!dialog, 'the script did not run');
    await axe(cw, 'daily notes');
    // Forms without the token, or from another site, are refused.
    const noToken = await context.request.post(`${base}/people/person-0001/daily-notes`, { form: { text: 'forged' } });
    check(noToken.status() === 403, `a post without the form token is refused (${noToken.status()})`);
    const token = await cw.locator('input[name="_token"]').first().inputValue();
    const foreign = await context.request.post(`${base}/people/person-0001/daily-notes`, {
      form: { text: 'forged', _token: token }, headers: { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    check(foreign.status() === 403, `a post from another site is refused (${foreign.status()})`);
    const text = await cw.textContent('main');
    check(!text.includes('forged'), 'nothing forged was recorded');
    // After sign-out the old cookie is refused.
    const old = (await context.cookies()).find((c) => c.name === 'careledger').value;
    await cw.getByRole('button', { name: 'Sign out' }).click();
    await cw.waitForURL(/sign-in\?done=signed-out/);
    const reuse = await fetch(`${base}/people/person-0001/daily-notes`, { headers: { cookie: `careledger=${old}` }, redirect: 'manual' });
    check(reuse.status === 303 && reuse.headers.get('location').startsWith('/sign-in'), `after sign-out the old cookie is refused (${reuse.status})`);
    // Headers on every page.
    const h = await fetch(`${base}/sign-in`);
    check(h.headers.get('content-security-policy').includes("default-src 'self'") && h.headers.get('content-security-policy').includes("frame-ancestors 'none'"), 'CSP');
    check(h.headers.get('referrer-policy') === 'no-referrer' && h.headers.get('x-content-type-options') === 'nosniff', 'referrer policy and nosniff');
    await context.close();
  }

  // The registered manager records a choices discussion and sees the finding clear.
  {
    const context = await newContext();
    const rm = await signInDemo(context, 'staff-rm01');
    await visit(rm, '/findings', 'what needs doing');
    await shots2(rm, 'manager', 'what needs doing');
    await reflow(rm, 'what needs doing');
    const row = rm.locator('#open-findings tbody tr', { hasText: /choices discussion/i }).first();
    check(await row.count() === 1, 'what needs doing lists a missing or stale choices discussion');
    const who = (await row.locator('td').first().textContent()).trim();
    const before = await rm.locator('#open-findings tbody tr', { hasText: who }).filter({ hasText: /choices discussion/i }).count();
    await row.locator('a').first().click();
    await rm.waitForLoadState();
    await axe(rm, 'information choices');
    await rm.fill('#present', `${who} (the person)\nSam Carter (coordinator)`);
    await rm.check('#explained-0');
    await rm.check('#explained-1');
    await rm.check('#explained-2');
    await rm.check('#chosen-0');
    await rm.check('#free-0');
    await rm.fill('#notes', 'Talked through paper, secure email and the website.');
    await rm.getByRole('button', { name: 'Record discussion' }).click();
    await rm.waitForURL(/choices\?recorded=/);
    await rm.goto(`${base}/findings`);
    const after = await rm.locator('#open-findings tbody tr', { hasText: who }).filter({ hasText: /choices discussion/i }).count();
    check(before >= 1 && after === 0, `the choices finding for ${who} cleared (${before} before, ${after} after)`);
    await visit(rm, '/requests', 'council requests');
    await reflow(rm, 'council requests');
    // A request received, answered from the page with what was sent.
    await rm.fill('#requester', 'council-mo01');
    await rm.fill('#organisation', 'Hertfordshire County Council');
    await rm.fill('#people', 'person-0001');
    await rm.check('#categories-0');
    await rm.fill('#description', 'The current care plan of person-0001.');
    await rm.getByRole('button', { name: 'Record request' }).click();
    await rm.waitForURL(/requests\?recorded=/);
    const answer = rm.locator('form[action$="/respond"]').last();
    const rid = (await answer.getAttribute('action')).split('/')[2];
    await rm.fill(`#sent-${rid}`, 'Care plan of person-0001, version 3.');
    await rm.check(`#channel-${rid}-0`);
    await rm.fill(`#items-${rid}`, '1');
    await rm.getByRole('button', { name: `Record the response to ${rid}` }).click();
    await rm.waitForURL(/requests\?recorded=/);
    const answered = await rm.locator("tbody tr", { hasText: rid }).textContent();
    check(/Answered in 0 h/.test(answered), `the new request shows as answered in time: ${answered}`);
    await axe(rm, 'council requests, after answering one');
    const chart = rm.locator('svg.chart[role="img"]');
    check(await chart.count() === 1 && (await chart.locator('title').textContent()).includes('Response time'), 'the response-time chart is an image with a title');
    check(await rm.locator('main table tbody tr').count() >= 1, 'the chart has the same data as a table beside it');
    await shot(rm, 'manager-requests');
    await visit(rm, '/people', 'manager: people');
    await visit(rm, '/staff', 'users and invitations');
    await reflow(rm, 'users and invitations');
    await visit(rm, `/people/${who}`, 'manager: a record');
    await visit(rm, `/people/${who}/care-plan`, 'manager: care plan with the publish form');
    check(await rm.getByRole('button', { name: /^Publish version \d+$/ }).count() === 1, 'the manager may publish the next version');
    await reflow(rm, 'manager: care plan with the publish form');
    check((await rm.textContent('h1')).trim().length > 0 && await rm.locator('nav[aria-label="Record"] a').count() === 8,
      'the manager sees the record with all eight sections to open');
    await context.close();
  }

  // The auditor finds a read and downloads its proof, which verifies offline.
  {
    const context = await newContext();
    const aud = await signInDemo(context, 'auditor-01');
    await visit(aud, '/audit', 'who saw what');
    await aud.fill('#person', 'person-0001');
    await aud.getByRole('button', { name: 'Show accesses' }).click();
    await aud.waitForLoadState();
    await axe(aud, 'who saw what, person-0001');
    await reflow(aud, 'who saw what');
    // By the role read in and the purpose recorded.
    await aud.selectOption('#role', 'CareWorker');
    await aud.selectOption('#purpose', 'DirectCare');
    await aud.getByRole('button', { name: 'Show accesses' }).click();
    await aud.waitForLoadState();
    const byRole = await aud.locator('tbody tr').allTextContents();
    check(byRole.length >= 1 && byRole.every((r) => r.includes('care worker') && r.includes('for care')), `filtered by role and purpose, every row is a care worker's read for care (${byRole.length} rows)`);
    await axe(aud, 'who saw what, by role and purpose');
    await aud.selectOption('#role', '');
    await aud.selectOption('#purpose', '');
    await aud.getByRole('button', { name: 'Show accesses' }).click();
    await aud.waitForLoadState();
    await shots2(aud, 'auditor', 'who saw what');
    const first = aud.locator('tbody a').first();
    const seq = (await first.textContent()).replace('Event ', '').trim();
    await first.click();
    await aud.waitForLoadState();
    await axe(aud, 'an access event with its proof');
    const dir = mkdtempSync(join(tmpdir(), 'careledger-proof-'));
    const save = async (name) => {
      const [download] = await Promise.all([aud.waitForEvent('download'), aud.getByRole('link', { name }).click()]);
      const path = join(dir, download.suggestedFilename());
      await download.saveAs(path);
      return path;
    };
    const proofPath = await save('Download the inclusion proof');
    const envPath = await save("Download the event's envelope");
    const cpPath = await save('Download the signed checkpoint');
    const keyPath = await save("Download the ledger's verifier key");
    let verified = '';
    try {
      verified = execFileSync('python3', [join(root, 'tools', 'verify_export.py'), '--checkpoint', cpPath, '--key', `@${keyPath}`, '--inclusion', proofPath, '--envelope', envPath]).toString();
    } catch (e) {
      verified = `${e.stdout}${e.stderr}`;
    }
    check(verified.includes(`OK: event ${seq} is in the tree`), `the downloaded proof of event ${seq} verifies offline: ${verified.trim()}`);
    // A tampered envelope does not.
    const env = readFileSync(envPath);
    env[env.length - 1] ^= 1;
    writeFileSync(envPath, env);
    let tampered = 0;
    try {
      execFileSync('python3', [join(root, 'tools', 'verify_export.py'), '--checkpoint', cpPath, '--key', `@${keyPath}`, '--inclusion', proofPath, '--envelope', envPath], { stdio: 'pipe' });
    } catch (e) {
      tampered = e.status;
    }
    check(tampered === 1, `a changed envelope fails the offline check (exit ${tampered})`);
    rmSync(dir, { recursive: true, force: true });
    await context.close();
  }

  // An emergency clinician breaks glass with a reason and sees medicines under a banner.
  {
    const context = await newContext();
    const para = await signInDemo(context, 'clinician-01');
    await para.getByRole('link', { name: 'Emergency access' }).first().click();
    await para.waitForLoadState();
    await axe(para, 'emergency access');
    await reflow(para, 'emergency access');
    await para.fill('#person', 'person-0001');
    await para.getByRole('button', { name: 'Open medicines and allergies' }).click();
    check(await para.locator('.error-summary a[href="#reason"]').count() === 1, 'break-glass without a reason is refused by the field');
    await axe(para, 'emergency access, with an error');
    await para.fill('#reason', 'Collapsed at home; paramedic needs the medicines list');
    // The break-glass event, then the one read of the medicines page it leads to.
    await accessKinds('person-0001', 'clinician-01', ['access.emergency', 'access.read'], 'break-glass is recorded', async () => {
      await para.getByRole('button', { name: 'Open medicines and allergies' }).click();
      await para.waitForURL(/\/people\/person-0001\/medicines$/);
    });
    check((await para.textContent('.banner-flag')).includes('flagged for review'), 'the medicines page says the access is flagged for review');
    check((await para.textContent('main')).includes('Allergies'), 'allergies are shown');
    await axe(para, 'emergency: medicines');
    await shots2(para, 'emergency-clinician', 'emergency: medicines');
    await context.close();
  }

  // The registered manager reviews the break-glass access; declares and ends an outage, and
  // a care worker adds a paper note written during it; handovers both ways; a person and a
  // family member are added on pages.
  {
    const context = await newContext();
    const rm = await signInDemo(context, 'staff-rm01');
    await rm.goto(`${base}/findings`);
    const chart = rm.locator('svg.chart[role="img"]');
    check(await chart.count() === 1 && (await chart.locator('title').textContent()).includes('Findings open at the end of each day'), 'findings over time is an image with a title');
    check(await rm.locator('details table tbody tr').count() >= 7, 'the days of the chart are in a table beside it');
    // The newest break-glass access is the clinician's, just now.
    const reviews = await rm.locator('#open-findings a[href^="/findings/break-glass/"]').all();
    check(reviews.length >= 1, 'the break-glass access is on what needs doing');
    const reviewHref = await reviews[reviews.length - 1].getAttribute('href');
    await reviews[reviews.length - 1].click();
    await rm.waitForLoadState();
    check((await rm.textContent('main')).includes('Collapsed at home'), 'the review page gives the reason the clinician gave');
    await axe(rm, 'review an emergency access');
    await reflow(rm, 'review an emergency access');
    await rm.check('#outcome-1');
    await rm.fill('#notes', 'Spoke to the ambulance service about the call.');
    await rm.getByRole('button', { name: 'Record the review' }).click();
    check(await rm.locator('.error-summary a[href="#action"]').count() === 1, 'not appropriate needs the action taken, by its field');
    await axe(rm, 'review an emergency access, with an error');
    await rm.check('#outcome-0');
    await rm.getByRole('button', { name: 'Record the review' }).click();
    await rm.waitForURL(/findings\?recorded=/);
    check(await rm.locator(`#open-findings a[href="${reviewHref}"]`).count() === 0, 'the reviewed access is no longer a finding');

    await visit(rm, '/outages', 'outages');
    await reflow(rm, 'outages');
    const start = ukParts(Date.now() - 2 * 3600e3);
    await rm.fill('#reason', 'No internet in the office');
    await rm.fill('#start_date', start.date);
    await rm.fill('#start_time', start.time);
    await rm.getByRole('button', { name: 'Declare the outage' }).click();
    await rm.waitForURL(/outages\?recorded=/);
    check((await rm.textContent('main')).includes('Outage going on: No internet in the office'), 'the outage is declared from two hours ago');
    await axe(rm, 'outages, one going on');
    await rm.getByRole('button', { name: 'End the outage' }).click();
    await rm.waitForURL(/outages\?recorded=/);

    // The Service User Guide: read, printed, and a new version published, after which the
    // homes with the older copy are listed.
    await rm.getByRole('link', { name: 'Service User Guide' }).first().click();
    await rm.waitForURL(/\/guide$/);
    check((await rm.textContent('main')).includes('version 1, published'), 'the demo provider has published version 1 of its guide');
    check(/\d+ with version 1, the current one/.test(await rm.textContent('main')), 'the guide page counts the homes with the current version');
    await axe(rm, 'service user guide');
    await reflow(rm, 'service user guide');
    await shot(rm, 'manager-guide');
    const guideLink = rm.getByRole('link', { name: 'Large print (PDF)' });
    check(await guideLink.count() === 1, 'the guide page has a large print link');
    {
      const r = await rm.request.get(`${base}${await guideLink.getAttribute('href')}`);
      check(r.status() === 200 && (r.headers()['content-type'] || '') === 'application/pdf', `the guide prints as a PDF (status ${r.status()})`);
      check(/^CL1:guide:1:/.test(r.headers()['careledger-reference'] || ''), 'the printed guide names its version in its reference');
    }
    await rm.fill('#heading-1', '');
    await rm.getByRole('button', { name: 'Publish version 2' }).click();
    check(await rm.locator('.error-summary a[href="#heading-1"]').count() === 1, 'a section with text and no heading is refused by its field');
    await axe(rm, 'service user guide, with an error');
    await rm.fill('#heading-1', 'About us');
    await rm.fill('#body-1', 'We provide care and support at home. Our office is open from 8am to 8pm every day.');
    await rm.getByRole('button', { name: 'Publish version 2' }).click();
    await rm.waitForURL(/guide\?recorded=/);
    check((await rm.textContent('main')).includes('8am to 8pm'), 'version 2 is the guide everyone reads');
    check(/[1-9]\d* with an older version/.test(await rm.textContent('main')), 'the homes with version 1 are now counted as older');
    check(await rm.locator('table caption', { hasText: 'Homes that need the current guide' }).count() === 1, 'the homes that need the new guide are listed');
    await axe(rm, 'service user guide, version 2');

    // Email addresses for secure email: recorded on a page of their own, refused by field.
    await visit(rm, '/people/person-0001/email-address', 'email addresses');
    await reflow(rm, 'email addresses');
    await rm.fill('#address', 'joan at home');
    await rm.getByRole('button', { name: 'Record email address' }).click();
    check(await rm.locator('.error-summary a[href="#address"]').count() === 1, 'an address that is not one is refused by its field');
    await axe(rm, 'email addresses, with an error');
    await rm.fill('#address', 'person-0001@example.org');
    await rm.getByRole('button', { name: 'Record email address' }).click();
    await rm.waitForURL(/email-address\?recorded=/);
    check((await rm.textContent('main')).includes('person-0001@example.org'), 'the recorded address is listed');

    const cwCtx = await newContext();
    const cw = await signInDemo(cwCtx, 'staff-cw01');
    await cw.goto(`${base}/people/person-0002/daily-notes`);
    await cw.getByRole('link', { name: 'Add from paper after an outage' }).click();
    await cw.waitForLoadState();
    await axe(cw, 'add from paper');
    await reflow(cw, 'add from paper');
    const at = ukParts(Date.now() - 3600e3);
    await cw.check('#kind-0');
    await cw.fill('#date', at.date);
    await cw.fill('#time', at.time);
    await cw.getByRole('button', { name: 'Add to the record' }).click();
    check(await cw.locator('.error-summary a[href="#paper"]').count() === 1 && await cw.locator('.error-summary a[href="#text"]').count() === 1, 'a missing paper reference and note are named by their fields');
    await axe(cw, 'add from paper, with errors');
    await cw.fill('#paper', 'Diary sheet 3, in the kitchen folder');
    await cw.fill('#text', 'Written on paper: lunch eaten, walked to the shop.');
    await cw.getByRole('button', { name: 'Add to the record' }).click();
    await cw.waitForURL(/daily-notes\?recorded=/);
    check((await cw.textContent('main')).includes('The original: Diary sheet 3, in the kitchen folder.'), 'the paper note is in the daily notes, with where its original is');

    // A handover sent with only what was agreed, and one received.
    await visit(cw, '/people/person-0001/handovers', 'handovers');
    await reflow(cw, 'handovers');
    const sent = cw.locator('form[action$="/handovers/sent"]');
    check(await sent.count() === 1, 'person-0001 agreed to share with a service, so a handover can be sent');
    if (await sent.count() === 1) {
      // The care rules refuse what was not agreed, by the field.
      await sent.getByLabel(/^Riverside day centre/).check();
      await sent.getByLabel('Incidents', { exact: true }).check();
      await sent.locator('#sent_summary').fill('New prescription from the GP; please see the MAR.');
      await sent.getByRole('button', { name: 'Record handover sent' }).click();
      await cw.waitForLoadState();
      check(await cw.locator('.error-summary a[href="#sent_categories"]').count() === 1, 'a handover of what was not agreed is refused by the field');
      await axe(cw, 'handovers, with a refusal');
      const again = cw.locator('form[action$="/handovers/sent"]');
      await again.getByLabel('Incidents', { exact: true }).uncheck();
      await again.getByLabel('Medicines and allergies', { exact: true }).check();
      await again.getByRole('button', { name: 'Record handover sent' }).click();
      await cw.waitForURL(/handovers\?recorded=/);
      check((await cw.textContent('main')).includes('Sent to Riverside day centre by telephone'), 'the handover sent is listed with the agreed channel');
    }
    await cw.locator('form[action$="/handovers/received"]').getByLabel(/^Riverside day centre/).check();
    await cw.fill('#got_summary', 'The district nurse changed the dressing.');
    await cw.getByRole('button', { name: 'Record handover received' }).click();
    await cw.waitForURL(/handovers\?recorded=/);
    check((await cw.textContent('main')).includes('Received from '), 'a handover received is listed');
    await axe(cw, 'handovers, after recording');
    await cwCtx.close();

    const pCtx = await newContext();
    const partner = await signInDemo(pCtx, 'partner-day-centre');
    await partner.goto(`${base}/people`);
    const handLink = partner.getByRole('link', { name: /Hand over to the provider/ }).first();
    check(await handLink.count() === 1, 'the day centre can hand over about someone who agreed to share with them');
    if (await handLink.count() === 1) {
      await handLink.click();
      await partner.waitForLoadState();
      await axe(partner, 'partner: hand over');
      await reflow(partner, 'partner: hand over');
      await partner.fill('#summary', 'Attended the day centre; ate well; a little tired.');
      await partner.getByRole('button', { name: 'Hand over' }).click();
      await partner.waitForURL(/handover\?recorded=/);
      check((await partner.textContent('main')).includes('Handed over (event'), 'the partner\'s handover is recorded');
      await axe(partner, 'partner: handed over');
    }
    await pCtx.close();

    await visit(rm, '/people/new', 'add a person');
    await reflow(rm, 'add a person');
    await rm.fill('#id', 'person-0100');
    await rm.fill('#name', 'Nora Newman');
    await rm.fill('#date_of_birth', '1938-05-06');
    await rm.fill('#address', '3 Mill Lane');
    await rm.fill('#gp_practice', 'Mill Lane Surgery');
    await rm.fill('#service', 'Home care, two visits a day');
    await rm.check('#account-0');
    await rm.getByRole('button', { name: 'Add the person' }).click();
    check(await rm.locator('.error-summary a[href="#allergies"]').count() === 1, 'allergies are never left blank');
    await axe(rm, 'add a person, with an error');
    await rm.check('#no_allergies-0');
    await rm.getByRole('button', { name: 'Add the person' }).click();
    await rm.waitForLoadState();
    check((await rm.textContent('main')).includes('/invitation/inv_'), 'the new person\'s sign-in link is shown once');
    await axe(rm, 'a person added');
    await rm.getByRole('link', { name: 'Open their record' }).click();
    await rm.getByRole('link', { name: 'Add a representative, family member or carer' }).click();
    await rm.waitForLoadState();
    await axe(rm, 'add a representative or family member');
    await reflow(rm, 'add a representative or family member');
    await rm.check('#kind-1');
    await rm.fill('#contact_id', 'family-0100');
    await rm.fill('#contact_name', 'Nell Newman');
    await rm.getByRole('button', { name: 'Add and make their sign-in link' }).click();
    await rm.waitForLoadState();
    check((await rm.textContent('main')).includes('/invitation/inv_'), 'the family member\'s sign-in link is shown');
    await context.close();
  }

  // Every other role's home and main page is accessible.
  for (const user of ['staff-co01', 'staff-pa01', 'rep-0005-lpa', 'partner-day-centre', 'council-mo01', 'council-scp01', 'clinician-01']) {
    if (!links[user]) continue;
    const context = await newContext();
    const page = await signInDemo(context, user);
    await axe(page, `${user}: home`);
    for (const link of await page.locator('nav.site-nav a').all()) {
      const href = await link.getAttribute('href');
      await visit(page, href, `${user}: ${href}`);
      await reflow(page, `${user}: ${href}`);
    }
    if (user === 'council-mo01') {
      await visit(page, '/findings', 'monitoring officer: findings');
      await shots2(page, 'monitoring-officer', 'monitoring officer: findings');
    }
    await setDisplay(page, 'large');
    await axe(page, `${user}: large print`);
    await context.close();
  }
} catch (e) {
  failures++;
  console.error(`FAIL: ${e.stack || e}`);
} finally {
  await browser.close();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
  rmSync(data, { recursive: true, force: true });
}

log(`${checks - failures} checks passed, ${failures} failed (${axeSeen.size} page states checked with axe-core)`);
process.exit(failures === 0 ? 0 : 1);
