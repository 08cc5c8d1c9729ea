// Pure market arithmetic for display. Prices arrive as exact decimal strings; these helpers
// convert to numbers only to compare and to format, never to feed anything back to the API.

export type Top = {
  exchange: string;
  symbol: string;
  bid: number | null;
  ask: number | null;
  last: number | null;
  open: number | null; // the first price seen this session, for "change"
  tsRecvMs: number;
};

export function num(s: string | null | undefined): number | null {
  if (s === null || s === undefined || s === "") return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

export function spread(top: Pick<Top, "bid" | "ask">): number | null {
  return top.bid !== null && top.ask !== null ? top.ask - top.bid : null;
}

export function spreadBps(top: Pick<Top, "bid" | "ask">): number | null {
  const s = spread(top);
  if (s === null || top.bid === null || top.ask === null) return null;
  const mid = (top.bid + top.ask) / 2;
  return mid > 0 ? (s / mid) * 10_000 : null;
}

export function changePct(top: Pick<Top, "last" | "open">): number | null {
  if (top.last === null || top.open === null || top.open === 0) return null;
  return ((top.last - top.open) / top.open) * 100;
}

export type CrossSpread = {
  symbol: string;
  buyOn: string; // the venue with the lowest ask
  sellOn: string; // the venue with the highest bid
  ask: number;
  bid: number;
  bps: number; // positive: the best bid elsewhere is above the best ask: an arbitrage on paper
};

/** Per symbol quoted on two or more venues: the best bid anywhere against the best ask anywhere. */
export function crossExchangeSpreads(tops: Top[]): CrossSpread[] {
  const bySymbol = new Map<string, Top[]>();
  for (const t of tops) bySymbol.set(t.symbol, [...(bySymbol.get(t.symbol) ?? []), t]);
  const out: CrossSpread[] = [];
  for (const [symbol, venues] of bySymbol) {
    const priced = venues.filter((v) => v.bid !== null && v.ask !== null);
    if (new Set(priced.map((v) => v.exchange)).size < 2) continue;
    const bestBid = priced.reduce((a, b) => ((b.bid as number) > (a.bid as number) ? b : a));
    const bestAsk = priced.reduce((a, b) => ((b.ask as number) < (a.ask as number) ? b : a));
    const bid = bestBid.bid as number;
    const ask = bestAsk.ask as number;
    const mid = (bid + ask) / 2;
    out.push({ symbol, buyOn: bestAsk.exchange, sellOn: bestBid.exchange, ask, bid, bps: ((bid - ask) / mid) * 10_000 });
  }
  return out.sort((a, b) => b.bps - a.bps);
}

/** Data older than this is shown as stale. */
export const STALE_AFTER_MS = 5_000;

export function isStale(tsRecvMs: number, nowMs: number, staleAfterMs = STALE_AFTER_MS): boolean {
  return nowMs - tsRecvMs > staleAfterMs;
}

export function fmt(n: number | null, digits = 2): string {
  return n === null ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
