// The HTTP side: the session (token in localStorage) and a fetch wrapper that turns the
// contract's error bodies into ApiError objects carrying `code`, `fields`, `retry_after`, `until`.

const TOKEN_KEY = 'live.token';
const USER_KEY = 'live.user';

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || 'unknown';
    this.fields = error?.fields;
    this.retry_after = error?.retry_after;
    if (error && 'until' in error) this.until = error.until;
  }
}

export const session = {
  get token() { return localStorage.getItem(TOKEN_KEY); },
  get user() {
    try { return JSON.parse(localStorage.getItem(USER_KEY) || 'null'); } catch { return null; }
  },
  save(token, user) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(USER_KEY);
  },
};

const listeners = new Set();
/** Called with no argument when a request answers 401 (the token expired or was revoked). */
export function onUnauthorized(fn) { listeners.add(fn); }

/** One JSON request. Resolves to the parsed body (null for 204); rejects with ApiError. */
export async function request(method, path, body, { token = session.token, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { code: 'unavailable', message: 'network error' }); // shown as errors.unavailable
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const error = new ApiError(res.status, data?.error || { code: 'unknown', message: `HTTP ${res.status}` });
    if (res.status === 401 && token === session.token) listeners.forEach((fn) => fn());
    throw error;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body = {}, opts) => request('POST', path, body, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  del: (path, opts, body) => request('DELETE', path, body, opts),
};

/** `path?k=v&...` without the empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

let configPromise = null;
/** `GET /v1/web/config` once per sign-in: {dev, ice_servers}. */
export function webConfig(refresh = false) {
  if (!configPromise || refresh) {
    configPromise = request('GET', '/v1/web/config').catch(() => ({ dev: false, ice_servers: [] }));
  }
  return configPromise;
}
