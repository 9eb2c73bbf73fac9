// Every page of every demo role in headless Chromium (scripts/browser-test.sh starts the server).
//
// For each demo account (read from crates/yiyang/src/seed.rs, so new roles are covered) it logs in,
// opens every entry of the rendered sidebar (`nav.side a`) and every same-site link on those pages
// (one level, GET only, deduplicated by path shape), once in standard and once in large-text mode,
// and fails a page on:
//   status      the document or any subresource answered 4xx/5xx, or a request failed
//   console     a console error or an uncaught page error (CSP refusals show up here too)
//   code        an unlabelled English code visible on screen (see codes.js for the heuristic)
//   overflow    horizontal scrolling at phone width 390 px (resident roles: elder, family, caregiver)
//   contrast    WCAG AA colour contrast (axe-core's color-contrast rule)
//   login       the page sent the signed-in user back to the login page
// Environment: YIYANG_URL (server), YIYANG_ROOT (repository, for seed.rs), CHROMIUM (executable).

'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');
const axeSource = require('axe-core').source;
const { findCodes } = require('./codes');

const BASE = (process.env.YIYANG_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
const ROOT = process.env.YIYANG_ROOT || path.resolve(__dirname, '..', '..');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PHONE_ROLES = new Set(['elder', 'family', 'caregiver']);
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const NAV_TIMEOUT = 30000;
/// How many sort/size variants were checked for their status only (printed with the totals).
let statusChecks = 0;
/// Words the code heuristic accepts (codes.js): filled with the demo login names.
const ALLOW_WORDS = [];

/// Paths never opened: they change state or end the session.
const SKIP_PATHS = [/^\/logout\b/, /^\/prefs\//];

function demoAccounts() {
  const file = path.join(ROOT, 'crates/yiyang/src/seed.rs');
  const src = fs.readFileSync(file, 'utf8');
  const pw = /DEMO_PASSWORD:\s*&str\s*=\s*"([^"]+)"/.exec(src);
  const block = /DEMO_ACCOUNTS[^=]*=\s*&\[([\s\S]*?)\n\];/.exec(src);
  if (!pw || !block) throw new Error(`DEMO_ACCOUNTS / DEMO_PASSWORD not found in ${file}`);
  const accounts = [...block[1].matchAll(/\(\s*"([^"]+)",\s*"([^"]+)",\s*"([^"]+)",\s*"([^"]*)"\s*,?\s*\)/g)]
    .map((m) => ({ login: m[1], name: m[2], role: m[3] }));
  if (accounts.length === 0) throw new Error(`no demo accounts parsed from ${file}`);
  return { password: pw[1], accounts };
}

/// Query parameters that only order or size the same list: a link that differs from a visited
/// page only in these is not visited again but its answer is checked (a sort key that fails).
const VIEW_PARAMS = new Set(['sort', 'dir', 'size']);

/// The dedupe key of a link: digits become N, query keys sorted (values' digits too), VIEW_PARAMS
/// left out; `page` is kept as a key, so a list's second page is visited once.
function shapeOf(u) {
  const url = new URL(u);
  const q = [...url.searchParams.entries()]
    .filter(([k]) => !VIEW_PARAMS.has(k))
    .map(([k, v]) => (k === 'page' ? k : `${k}=${v.replace(/\d+/g, 'N')}`))
    .sort()
    .join('&');
  return url.pathname.replace(/\d+/g, 'N') + (q ? `?${q}` : '');
}

function hasViewParam(u) {
  return [...new URL(u).searchParams.keys()].some((k) => VIEW_PARAMS.has(k));
}

function relative(u) {
  const url = new URL(u);
  return url.pathname + url.search;
}

function wanted(u) {
  let url;
  try {
    url = new URL(u);
  } catch {
    return false;
  }
  if (url.origin !== new URL(BASE).origin) return false;
  if (url.searchParams.has('_csrf')) return false;
  return !SKIP_PATHS.some((re) => re.test(url.pathname));
}

/// Collects what goes wrong while one page loads: bad responses, failed requests, console errors.
function watch(page) {
  const state = { problems: [] };
  page.on('response', (r) => {
    if (r.status() >= 400) state.problems.push({ kind: 'status', detail: `${r.status()} ${relative(r.url())}` });
  });
  page.on('requestfailed', (r) => {
    const err = r.failure() ? r.failure().errorText : 'failed';
    // Aborted: a download handed off, or a request cut short by leaving the page; not the server's fault.
    if (err === 'net::ERR_ABORTED') return;
    state.problems.push({ kind: 'status', detail: `${err} ${relative(r.url())}` });
  });
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const at = m.location() && m.location().url ? ` (${relative(m.location().url)})` : '';
    state.problems.push({ kind: 'console', detail: m.text().slice(0, 300) + at });
  });
  page.on('pageerror', (e) => state.problems.push({ kind: 'console', detail: `uncaught: ${String(e).slice(0, 300)}` }));
  return state;
}

async function csrfToken(page) {
  const t = await page.$eval('input[name=_csrf]', (i) => i.value).catch(() => null);
  if (!t) throw new Error(`no CSRF field on ${page.url()}`);
  return t;
}

async function setLargeText(page, on) {
  await page.goto(`${BASE}/`, { timeout: NAV_TIMEOUT });
  const r = await page.request.post(`${BASE}/prefs/large-text`, {
    form: { on: on ? '1' : '0', _csrf: await csrfToken(page) },
    maxRedirects: 0,
  });
  if (r.status() >= 400) throw new Error(`POST /prefs/large-text answered ${r.status()}`);
  await page.goto(`${BASE}/`, { timeout: NAV_TIMEOUT });
  const has = await page.evaluate(() => document.body.classList.contains('large-text'));
  if (has !== on) throw new Error(`large-text mode did not switch ${on ? 'on' : 'off'}`);
}

async function login(page, acct, password) {
  await page.goto(`${BASE}/login`, { timeout: NAV_TIMEOUT });
  await page.fill('#login', acct.login);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation({ timeout: NAV_TIMEOUT }), page.click('button[type=submit]')]);
  if (new URL(page.url()).pathname === '/login') throw new Error(`login as ${acct.login} failed`);
}

/// Checks run inside a loaded HTML page.
async function pageChecks(page, { phone }) {
  const problems = [];
  const codes = await page.evaluate(findCodes, ALLOW_WORDS);
  for (const c of codes) problems.push({ kind: 'code', detail: c });
  if (phone) {
    const o = await page.evaluate(() => {
      const root = document.documentElement;
      if (root.scrollWidth <= root.clientWidth + 1) return null;
      // Name the outermost elements that stick out, so the report points at the culprit.
      const vw = root.clientWidth;
      const out = [];
      for (const el of document.body.querySelectorAll('*')) {
        const r = el.getBoundingClientRect();
        if (r.right > vw + 1 && r.width > 0 && !(el.parentElement && el.parentElement.getBoundingClientRect().right > vw + 1)) {
          const cls = el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
          out.push(`${el.tagName.toLowerCase()}${cls} (${Math.round(r.right)}px)`);
        }
      }
      return `page is ${root.scrollWidth}px wide at ${vw}px: ${out.slice(0, 3).join(', ')}`;
    });
    if (o) problems.push({ kind: 'overflow', detail: o });
  }
  await page.evaluate(axeSource);
  const axe = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] }, resultTypes: ['violations'] });
    return r.violations.flatMap((v) =>
      v.nodes.map((n) => {
        const d = (n.any[0] && n.any[0].data) || {};
        const text = (document.querySelector(n.target[0]) || {}).textContent || '';
        return `${n.target.join(' ')} "${text.trim().slice(0, 30)}" ${d.fgColor} on ${d.bgColor} = ${d.contrastRatio}:1 (needs ${d.expectedContrastRatio})`;
      }),
    );
  });
  for (const a of axe) problems.push({ kind: 'contrast', detail: a });
  return problems;
}

/// Opens one URL, checks it, and returns { problems, links, html }.
async function visit(page, url, { phone, collect, shotName }) {
  const w = watch(page);
  let resp;
  try {
    resp = await page.goto(url, { timeout: NAV_TIMEOUT, waitUntil: 'load' });
  } catch (e) {
    if (/Download is starting/.test(String(e))) {
      // A file export: check its status without a page.
      const r = await page.request.get(url);
      page.removeAllListeners();
      const problems = r.status() >= 400 ? [{ kind: 'status', detail: `${r.status()} ${relative(url)}` }] : [];
      return { problems, links: [], kind: 'download' };
    }
    page.removeAllListeners();
    return { problems: [{ kind: 'status', detail: `navigation failed: ${String(e).split('\n')[0]}` }], links: [], kind: 'error' };
  }
  const problems = w.problems;
  const type = (resp && resp.headers()['content-type']) || '';
  const finalPath = new URL(page.url()).pathname;
  if (finalPath === '/login' && new URL(url).pathname !== '/login') {
    problems.push({ kind: 'login', detail: 'sent back to the login page' });
  }
  let links = [];
  if (type.startsWith('text/html')) {
    problems.push(...(await pageChecks(page, { phone })));
    await screenshot(page, url, shotName);
    if (collect) {
      // The sidebar's own entries are visited as nav pages; the header's (修改密码) once via dedupe.
      links = await page.$$eval('a[href]', (as) => as.filter((a) => !a.closest('nav.side')).map((a) => a.href));
    }
  }
  // Late console errors (e.g. from scripts after load) are in w.problems already.
  page.removeAllListeners();
  return { problems: dedupeProblems(problems), links, kind: type.startsWith('text/html') ? 'html' : 'other' };
}

/// With SCREENSHOTS=dir, a full-page picture of every HTML page (to look at what a user sees).
async function screenshot(page, url, name) {
  const dir = process.env.SCREENSHOTS;
  if (!dir || !name) return;
  fs.mkdirSync(dir, { recursive: true });
  const file = `${name}${relative(url)}`.replace(/[^\w.-]+/g, '_').slice(0, 150);
  await page.screenshot({ path: path.join(dir, `${file}.png`), fullPage: true });
}

function dedupeProblems(ps) {
  const seen = new Set();
  return ps.filter((p) => {
    const k = `${p.kind}|${p.detail}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

async function crawlRole(browser, acct, password, report) {
  const phone = PHONE_ROLES.has(acct.role);
  const context = await browser.newContext({ viewport: phone ? PHONE : DESKTOP, locale: 'zh-CN' });
  const page = await context.newPage();
  const pages = []; // every HTML page visited in standard mode, revisited in large-text mode
  const record = (mode, url, from, res) => report.push({ role: acct.role, login: acct.login, mode, url: relative(url), from, ...res });
  try {
    await login(page, acct, password);
    await setLargeText(page, false);
    const nav = await page.$$eval('nav.side a', (as) => as.map((a) => a.href));
    if (nav.length === 0) throw new Error('the sidebar has no entries');
    // Every sidebar entry is visited (deduplicated by exact address); links by shape.
    const navUrls = [...new Set([`${BASE}/`, ...nav])];
    const shapes = new Set(navUrls.map(shapeOf));
    const checked = new Set(); // links only checked for their status (sort and size variants)
    for (const u of navUrls) {
      const res = await visit(page, u, { phone, collect: true, shotName: `${acct.login}-std` });
      record('standard', u, 'nav', res);
      pages.push(u);
      for (const l of res.links) {
        if (!wanted(l)) continue;
        const s = shapeOf(l);
        if (shapes.has(s)) {
          if (hasViewParam(l) && !checked.has(l)) {
            checked.add(l);
            statusChecks += 1;
            const r = await page.request.get(l);
            if (r.status() >= 400) record('standard', l, relative(u), { problems: [{ kind: 'status', detail: `${r.status()} ${relative(l)}` }] });
          }
          continue;
        }
        shapes.add(s);
        const r2 = await visit(page, l, { phone, collect: false, shotName: `${acct.login}-std` });
        record('standard', l, relative(u), r2);
        if (r2.kind === 'html') pages.push(l);
      }
    }
    await setLargeText(page, true);
    for (const u of pages) {
      const res = await visit(page, u, { phone, collect: false, shotName: `${acct.login}-large` });
      record('large', u, '', res);
    }
    await setLargeText(page, false);
  } catch (e) {
    report.push({ role: acct.role, login: acct.login, mode: '-', url: '(role)', from: '', problems: [{ kind: 'error', detail: String(e).split('\n')[0] }] });
  } finally {
    await context.close();
  }
}

/// The login page is the one page everyone sees signed out; its large-text toggle is a cookie.
async function crawlAnonymous(browser, report) {
  for (const large of [false, true]) {
    const context = await browser.newContext({ viewport: PHONE, locale: 'zh-CN' });
    const page = await context.newPage();
    const mode = large ? 'large' : 'standard';
    try {
      if (large) {
        // The toggle on the login page itself: it must be visible and switch the mode.
        await page.goto(`${BASE}/login`, { timeout: NAV_TIMEOUT });
        const toggle = page.locator('form[action="/prefs/large-text"] button');
        if (!(await toggle.isVisible())) throw new Error('the large-text toggle on the login page is not visible');
        await Promise.all([page.waitForNavigation({ timeout: NAV_TIMEOUT }), toggle.click()]);
        const on = await page.evaluate(() => document.body.classList.contains('large-text'));
        if (!on) throw new Error('the large-text toggle on the login page does not switch the mode');
      }
      const res = await visit(page, `${BASE}/login`, { phone: true, collect: false });
      report.push({ role: '(signed out)', login: '-', mode, url: '/login', from: '', ...res });
    } catch (e) {
      report.push({ role: '(signed out)', login: '-', mode, url: '/login', from: '', problems: [{ kind: 'error', detail: String(e).split('\n')[0] }] });
    } finally {
      await context.close();
    }
  }
}

/// The checks must be able to fail: a page with one of each defect must trip each of them, and
/// the same codes inside <code> must not. Run before the crawl; a broken check stops the test.
async function selfTest(browser) {
  const context = await browser.newContext({ viewport: PHONE });
  const page = await context.newPage();
  try {
    const w = watch(page);
    await page.setContent(`<!doctype html><html lang="zh-CN"><body><main>
      <p>状态：pending</p><table><tr><td>org_admin</td><td>staff</td></tr></table>
      <p>事件 patient.merged，消息 ADT_A01</p><p>收缩压 138 mm[Hg]，心率（/min）</p><p>One institution and its staff.</p><p>OAuth 2.0 Bearer 令牌</p>
      <p style="color:#bbb;background:#fff">浅灰色的说明文字</p>
      <div style="width:900px">很宽的内容</div>
      <code>not_flagged.code pending</code><span class="mono">mono_code</span>
      <p>文件 orgs.csv，邮箱 a.b@example.com，地址 /api/v1/persons_x</p>
    </main></body></html>`);
    await page.evaluate(() => console.error('self-test console error'));
    const problems = [...w.problems, ...(await pageChecks(page, { phone: true }))];
    page.removeAllListeners();
    const text = problems.map((p) => `${p.kind}: ${p.detail}`).join('\n');
    const expect = [/^code: enum "pending"/m, /^code: snake "org_admin"/m, /^code: bare "staff"/m,
      /^code: dotted "patient\.merged"/m, /^code: upper "ADT_A01"/m, /^code: unit "mm\[Hg\]"/m, /^code: unit "\/min"/m, /^code: english "One institution and its staff"/m, /^contrast: /m, /^overflow: /m,
      /^console: self-test console error/m];
    const missing = expect.filter((re) => !re.test(text));
    const wrong = [/not_flagged/, /mono_code/, /orgs\.csv/, /example/, /persons_x/, /OAuth/].filter((re) => re.test(text));
    if (missing.length || wrong.length) {
      throw new Error(`self-test of the checks failed\nmissed: ${missing.join(' ')}\nwrongly flagged: ${wrong.join(' ')}\ngot:\n${text}`);
    }
  } finally {
    await context.close();
  }
}

function print(report, ms) {
  let failed = 0;
  const byRole = new Map();
  for (const r of report) {
    const key = `${r.role} (${r.login})`;
    if (!byRole.has(key)) byRole.set(key, []);
    byRole.get(key).push(r);
  }
  for (const [role, rows] of byRole) {
    const bad = rows.filter((r) => r.problems.length > 0);
    failed += bad.length;
    console.log(`\n== ${role}: ${rows.length - bad.length} passed, ${bad.length} failed`);
    for (const r of rows) {
      const mark = r.problems.length ? 'FAIL' : 'ok  ';
      const from = r.from && r.from !== 'nav' ? `  (linked from ${r.from})` : '';
      console.log(`  ${mark} [${r.mode}] ${r.url}${from}`);
      for (const p of r.problems) console.log(`         ${p.kind}: ${p.detail}`);
    }
  }
  // The same problem on many pages (a header colour, say) is one defect: list each once.
  const distinct = new Map();
  for (const r of report) for (const p of r.problems) {
    const k = `${p.kind}: ${p.detail}`;
    distinct.set(k, (distinct.get(k) || 0) + 1);
  }
  if (distinct.size) {
    console.log('\ndistinct problems (pages affected):');
    for (const [k, n] of [...distinct].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(4)}  ${k}`);
  }
  const passed = report.length - failed;
  console.log(`\nbrowser test: ${report.length} page visits and ${statusChecks} sort/size links checked in ${(ms / 1000).toFixed(0)} s`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed;
}

async function main() {
  const t0 = Date.now();
  const { password, accounts } = demoAccounts();
  ALLOW_WORDS.push(...accounts.map((a) => a.login));
  const only = process.env.ROLES ? new Set(process.env.ROLES.split(',')) : null;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // No --user-data-dir: Playwright refuses it here and starts Chromium on a fresh temporary
      // profile of its own, removed on close; each role then gets its own browser context.
    ],
  });
  const report = [];
  try {
    await selfTest(browser);
    if (!only) await crawlAnonymous(browser, report);
    for (const a of accounts) {
      if (only && !only.has(a.login) && !only.has(a.role)) continue;
      await crawlRole(browser, a, password, report);
    }
  } finally {
    await browser.close();
  }
  const failed = print(report, Date.now() - t0);
  if (report.length === 0) {
    console.error('no page was visited (ROLES matched no demo account?)');
    process.exit(1);
  }
  process.exit(failed > 0 ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
