import { describe, expect, it } from "vitest";

import { changePct, crossExchangeSpreads, isStale, num, spreadBps, type Top } from "./market";

function top(exchange: string, symbol: string, bid: number | null, ask: number | null): Top {
  return { exchange, symbol, bid, ask, last: null, open: null, tsRecvMs: 0 };
}

describe("market arithmetic", () => {
  it("parses decimal strings and refuses garbage", () => {
    expect(num("64000.50")).toBe(64000.5);
    expect(num("")).toBeNull();
    expect(num(null)).toBeNull();
    expect(num("abc")).toBeNull();
  });

  it("computes spread in basis points of the mid", () => {
    expect(spreadBps({ bid: 99.5, ask: 100.5 })).toBeCloseTo(100, 6);
    expect(spreadBps({ bid: null, ask: 100 })).toBeNull();
  });

  it("computes change from the session's first price", () => {
    expect(changePct({ last: 110, open: 100 })).toBeCloseTo(10, 9);
    expect(changePct({ last: 110, open: null })).toBeNull();
  });

  it("finds the cross-exchange spread per symbol", () => {
    const spreads = crossExchangeSpreads([
      top("binance", "BTC-USDT", 64000, 64001),
      top("kraken", "BTC-USDT", 64010, 64012),
      top("binance", "ETH-USDT", 3000, 3000.5), // one venue only: no cross spread
    ]);
    expect(spreads).toHaveLength(1);
    const [btc] = spreads;
    expect(btc?.buyOn).toBe("binance");
    expect(btc?.sellOn).toBe("kraken");
    expect(btc?.bps).toBeGreaterThan(0); // kraken's bid is above binance's ask
  });

  it("flags stale data", () => {
    expect(isStale(1_000, 7_000)).toBe(true);
    expect(isStale(1_000, 2_000)).toBe(false);
  });
});
