// The "unlabelled English code" heuristic, run inside the page (so it must be self-contained).
//
// The UI is Chinese; a code the program uses internally must reach the screen as a Chinese label.
// It looks at visible text only, outside <code>, <pre>, <kbd>, <samp>, .mono, <script>, <style>,
// <textarea> and form fields (where codes are shown on purpose, e.g. a message id or a field that
// holds what the user typed). In that text it reports:
//   snake       snake_case words: role_name, org_admin, read_unmasked
//   dotted      dotted codes: staff.read, person.merge, config.parse (not e-mail addresses, host
//               names or file names: a last part that is a known file or domain suffix is allowed)
//   upper       upper-case codes with an underscore: ADT_A01, QRY_A19, ORU_R01
//   enum        raw state words anywhere in the text: pending, active, approved, rejected, ...
//   english     English prose: four or more English words in a row (an untranslated sentence)
//   unit        UCUM unit notation instead of what people write: mm[Hg] (mmHg), Cel (℃), /min (次/分)
//   bare        an element whose whole text is one lower-case ASCII word of 3+ letters (a table
//               cell saying "staff" or "resident"), which in this UI is always an untranslated value
// Allow-list (each kept short and justified):
//   - the demo accounts' login names: a login is a name the user chose, shown as data
//   - file and domain suffixes after a dot (csv, xlsx, json, toml, svg, hl7, com, cn, org, net, local)
//   - URL paths and URLs are removed before matching: a link written out is not a code
//   - unit words people write in Latin letters are not matched by any pattern (mmHg, kg, mmol/L)
//
// findCodes(allowWords) returns strings "<kind> "<token>" in <tag>: <text…>".
function findCodes(allowWords) {
  const allow = new Set(allowWords || []);
  const SUFFIX = /^(csv|xlsx|xls|json|toml|svg|hl7|txt|pdf|png|com|cn|org|net|local|gov)$/;
  const ENUM = /\b(pending|active|inactive|approved|rejected|draft|disabled|enabled|failed|queued|running|succeeded|processed|dead|retry|true|false|null|undefined|none)\b/g;
  const SKIP = 'code, pre, kbd, samp, .mono, script, style, textarea, noscript, svg';
  const out = [];
  const seen = new Set();
  const add = (kind, token, el, text) => {
    const k = token;
    if (seen.has(k) || allow.has(token)) return;
    seen.add(k);
    out.push(`${kind} "${token}" in <${el.tagName.toLowerCase()}>: ${text.trim().replace(/\s+/g, ' ').slice(0, 80)}`);
  };
  const visible = (el) => el.checkVisibility ? el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true }) : true;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(SKIP) || !visible(el)) continue;
    const raw = n.textContent;
    if (!/[A-Za-z]/.test(raw)) continue;
    for (const m of raw.matchAll(/\b[A-Za-z]*\[[A-Za-z]+\]|\bCel\b|(?<![\w/])\/min\b/g)) add('unit', m[0], el, raw);
    // Remove URLs, paths, e-mail addresses: they are written out on purpose.
    const text = raw
      .replace(/https?:\/\/\S+/g, ' ')
      .replace(/[\w.+-]+@[\w.-]+/g, ' ')
      .replace(/(^|[\s（(：:])\/[\w\-./?=&{}%]*/g, ' ');
    for (const m of text.matchAll(/\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b/g)) add('snake', m[0], el, raw);
    for (const m of text.matchAll(/\b[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+\b/g)) {
      const last = m[0].split('.').pop();
      if (!SUFFIX.test(last)) add('dotted', m[0], el, raw);
    }
    for (const m of text.matchAll(/\b[A-Z][A-Z0-9]+_[A-Z0-9_]+\b/g)) add('upper', m[0], el, raw);
    for (const m of text.matchAll(ENUM)) add('enum', m[0], el, raw);
    for (const m of text.matchAll(/\b[A-Za-z]+(?:[ ,]+[A-Za-z]+){3,}\b/g)) add('english', m[0].slice(0, 40), el, raw);
  }
  // Whole-element values: a leaf element (or option) whose whole text is one lower-case word.
  for (const el of document.body.querySelectorAll('td, th, dd, dt, li, span, div, p, option, a, button, label, strong, b, em')) {
    if (el.children.length > 0 || el.closest(SKIP) || (el.tagName !== 'OPTION' && !visible(el))) continue;
    const t = el.textContent.trim();
    if (/^[a-z][a-z0-9_-]{2,}$/.test(t)) add('bare', t, el, t);
  }
  return out;
}

module.exports = { findCodes };
