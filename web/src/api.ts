// The HTTP side: Binance's public REST API, and Rialto's session endpoints under /api/rialto.
// Every failure becomes an ApiError carrying the server's own code and message.

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly status: number,
  ) {
    super(msg);
  }
}

export type Params = Record<string, string | number | undefined>;

function query(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, String(v));
  return q.toString();
}

async function send<T>(url: string, init: RequestInit): Promise<T> {
  let r: Response;
  try {
    r = await fetch(url, { credentials: "same-origin", ...init });
  } catch {
    throw new ApiError(-1001, "Cannot reach the exchange; check the connection.", 0);
  }
  const text = await r.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!r.ok) {
    const b = (body ?? {}) as { code?: number; msg?: string };
    throw new ApiError(b.code ?? -1000, b.msg ?? `HTTP ${r.status}`, r.status);
  }
  return body as T;
}

/** A public market-data request: GET /api/v3/<path>. */
export function pub<T>(path: string, params: Params = {}): Promise<T> {
  const q = query(params);
  return send<T>(`/api/v3/${path}${q ? "?" + q : ""}`, { method: "GET" });
}

/** A trading request with the session cookie, Binance's parameters: /api/rialto/<path>. */
export function trade<T>(method: string, path: string, params: Params = {}): Promise<T> {
  const q = query(params);
  if (method === "GET") return send<T>(`/api/rialto/${path}${q ? "?" + q : ""}`, { method });
  return send<T>(`/api/rialto/${path}`, {
    method,
    headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Rialto-CSRF": "1" },
    body: q,
  });
}

/** A people request (sign-up, login, keys): JSON in and out, /api/rialto/<path>. */
export function people<T>(method: string, path: string, body?: object): Promise<T> {
  return send<T>(`/api/rialto/${path}`, {
    method,
    headers: { "Content-Type": "application/json", "X-Rialto-CSRF": "1" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
