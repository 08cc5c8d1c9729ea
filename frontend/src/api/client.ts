// A typed client for the AlphaPulse API. The types come from the OpenAPI document
// (`npm run gen:api` regenerates src/api/schema.d.ts from openapi.json, which
// `alphapulse api --openapi` writes), so the dashboard and the API cannot drift apart silently.
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type Quote = Schemas["QuoteOut"];
export type Candle = Schemas["CandleOut"];
export type CandlesPage = Schemas["CandlesPage"];
export type Account = Schemas["AccountOut"];
export type Portfolio = Schemas["PortfolioOut"];
export type Order = Schemas["OrderOut"];
export type OrderIn = Schemas["OrderIn"];
export type FeedHealth = Schemas["FeedHealthOut"];
export type Session = Schemas["SessionOut"];
export type Instrument = Schemas["InstrumentOut"];

/** An RFC 9457 problem document from the API, as an exception. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, "Content-Type": "application/json" };
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    let detail = resp.statusText;
    try {
      const problem = (await resp.json()) as { detail?: string };
      detail = problem.detail ?? detail;
    } catch {
      // not a problem document (a proxy error page): keep the status text
    }
    throw new ApiError(resp.status, detail);
  }
  return resp.status === 204 ? (undefined as T) : ((await resp.json()) as T);
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const api = {
  config: () => request<Schemas["ConfigOut"]>("GET", "/api/config"),
  login: (username: string, password: string) =>
    request<Session>("POST", "/api/auth/login", { username, password } satisfies Schemas["LoginIn"]),
  logout: () => request<void>("POST", "/api/auth/logout"),
  me: () => request<Session>("GET", "/api/auth/me"),
  bridgeToken: () => request<Schemas["BridgeTokenOut"]>("POST", "/api/auth/bridge-token"),
  instruments: () => request<Instrument[]>("GET", "/api/instruments"),
  latestQuotes: () => request<Quote[]>("GET", "/api/quotes/latest"),
  candles: (exchange: string, symbol: string, interval: string, limit = 500) =>
    request<CandlesPage>("GET", `/api/candles${query({ exchange, symbol, interval, limit })}`),
  feedHealth: () => request<FeedHealth[]>("GET", "/api/feeds/health"),
  accounts: () => request<Account[]>("GET", "/api/accounts"),
  portfolio: (accountId: number) => request<Portfolio>("GET", `/api/accounts/${accountId}/portfolio`),
  orders: (accountId?: number) =>
    request<Schemas["OrdersPage"]>("GET", `/api/orders${query({ account_id: accountId, limit: 50 })}`),
  submitOrder: (order: OrderIn) => request<Order>("POST", "/api/orders", order),
  cancelOrder: (orderId: string) => request<Order>("POST", `/api/orders/${orderId}/cancel`),
};
