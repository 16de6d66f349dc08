// The interface's language: message catalogs (static/i18n/{lang}.json, one file per language),
// the page's `lang` and `dir`, and numbers, dates and durations formatted with Intl for it.
//
// A catalog maps a key to a text with `{name}` placeholders, or, for a text that depends on a
// number, to its plural forms by Intl.PluralRules category (`zero one two few many other`;
// Arabic uses all six, English `one` and `other`). No interface string lives in the views: they
// call t('key', {...}) (a string) or tx('key', {...}) (a list of strings and nodes, for sentences
// with a user's name in a <bdi>). A key missing from the catalog is a bug: it is logged as an
// error (the browser tests fail on any) and the key itself is shown.

const STORE_KEY = 'live.lang';

/** Languages the client speaks: code -> {name (in itself), dir}. */
export const LANGS = {
  ar: { name: 'العربية', dir: 'rtl' },
  en: { name: 'English', dir: 'ltr' },
};
const DEFAULT = 'en';

let lang = DEFAULT;
let locale = DEFAULT; // for Intl: the browser's own variant of `lang` (ar-EG, ar-MA...) when it has one
let catalog = {};
let plurals = new Intl.PluralRules(DEFAULT);
let numbers = new Intl.NumberFormat(DEFAULT);

/** The remembered choice, else the browser's first language we speak, else English. */
export function preferredLang() {
  const stored = localStorage.getItem(STORE_KEY);
  if (stored && LANGS[stored]) return stored;
  for (const tag of navigator.languages || [navigator.language || '']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LANGS[base]) return base;
  }
  return DEFAULT;
}

/** Load `code`'s catalog and set <html lang dir>; resolves once texts can be asked for. */
export async function useLang(code) {
  const chosen = LANGS[code] ? code : DEFAULT;
  const res = await fetch(`/static/i18n/${chosen}.json`);
  if (!res.ok) throw new Error(`catalog ${chosen}: HTTP ${res.status}`);
  catalog = await res.json();
  lang = chosen;
  // Digits and dates follow the reader's region: Arabic-Indic digits in Cairo or Riyadh, Latin
  // digits in Casablanca, as each region's conventions (CLDR) say.
  locale = (navigator.languages || []).find((tag) => String(tag).toLowerCase().split('-')[0] === lang) || lang;
  try { Intl.getCanonicalLocales(locale); } catch { locale = lang; }
  plurals = new Intl.PluralRules(lang);
  numbers = new Intl.NumberFormat(locale);
  document.documentElement.lang = lang;
  document.documentElement.dir = LANGS[lang].dir;
  return lang;
}

/** Remember `code` for the next visits (the caller reloads the page to show it). */
export function rememberLang(code) {
  if (LANGS[code]) localStorage.setItem(STORE_KEY, code);
}

export function currentLang() { return lang; }
export function isRtl() { return LANGS[lang].dir === 'rtl'; }

/** Whether the catalog has `key` (for texts keyed by a server value: an error code, a kind). */
export function has(key) { return Object.prototype.hasOwnProperty.call(catalog, key); }

function entry(key, params) {
  if (!has(key)) {
    console.error(`live: no text for "${key}" in ${lang}`);
    return key;
  }
  const value = catalog[key];
  if (typeof value === 'string') return value;
  const count = params && typeof params.count === 'number' ? params.count : 0;
  return value[plurals.select(count)] ?? value.other;
}

function fill(text, params) {
  return text.split(/(\{[a-z_]+\})/).filter((p) => p !== '').map((part) => {
    const m = /^\{([a-z_]+)\}$/.exec(part);
    if (!m || !params || !(m[1] in params)) return part;
    const v = params[m[1]];
    return typeof v === 'number' ? num(v) : v;
  });
}

/** The text of `key` with `{placeholders}` filled (numbers formatted for the language). */
export function t(key, params) {
  return fill(entry(key, params), params).map((p) => (p instanceof Node ? p.textContent : String(p ?? ''))).join('');
}

/** Like t(), but nodes passed as parameters (a <bdi> name, a link) stay nodes: a list for h(). */
export function tx(key, params) {
  return fill(entry(key, params), params);
}

// -- numbers, dates, durations ----------------------------------------------------------------

export function num(n) { return numbers.format(n); }

/** "5 min", "٥ دقائق": a number with a unit (minute, second, hour, day, megabyte...). */
export function unit(n, name, display = 'short', opts = {}) {
  return new Intl.NumberFormat(locale, { style: 'unit', unit: name, unitDisplay: display, ...opts }).format(n);
}

export function dateTime(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

export function date(iso, opts = { dateStyle: 'medium' }) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(locale, opts).format(iso instanceof Date ? iso : new Date(iso));
}

const STEPS = [[60, 'second'], [3600, 'minute'], [86400, 'hour'], [604800, 'day']];

/** "3 minutes ago", "in 2 hours", "قبل ٣ دقائق"; far dates as a date. */
export function relative(iso) {
  if (!iso) return '';
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  if (abs < 45) return rtf.format(0, 'second');
  let divisor = 1;
  for (const [limit, name] of STEPS) {
    if (abs < limit) return rtf.format(Math.round(seconds / divisor), name);
    divisor = limit;
  }
  return date(iso);
}

/** A countdown: "2d 3h", "1h 05 min", "4 min 09 sec", "12 sec" in the language's units. */
export function countdown(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const hr = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = { minimumIntegerDigits: 2 };
  const parts = d ? [unit(d, 'day', 'narrow'), unit(hr, 'hour', 'narrow')]
    : hr ? [unit(hr, 'hour', 'narrow'), unit(m, 'minute', 'short', two)]
      : m ? [unit(m, 'minute', 'short'), unit(sec, 'second', 'short', two)]
        : [unit(sec, 'second', 'short')];
  return parts.join(' ');
}

/** "a, b and c" in the language. */
export function list(items) {
  return new Intl.ListFormat(locale, { style: 'long', type: 'conjunction' }).format(items);
}

/** A byte size: "3.2 MB". */
export function bytes(n) {
  if (n < 1024 * 1024) return unit(Math.max(1, Math.round(n / 1024)), 'kilobyte');
  return unit(Math.round(n / 104857.6) / 10, 'megabyte');
}
