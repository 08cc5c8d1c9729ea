import { describe, expect, it } from "vitest";

import { bridgeUrlFor, groupSubscriptions } from "./bridge";

describe("bridge subscriptions", () => {
  it("groups keys by exchange and channel", () => {
    const msgs = groupSubscriptions(["binance|BTC-USDT|quotes", "binance|ETH-USDT|quotes", "kraken|BTC-USDT|trades"]);
    expect(msgs).toEqual([
      { exchange: "binance", symbols: ["BTC-USDT", "ETH-USDT"], channels: ["quotes"] },
      { exchange: "kraken", symbols: ["BTC-USDT"], channels: ["trades"] },
    ]);
  });
});

describe("bridge URL", () => {
  it("resolves a path against the page, upgrading the scheme", () => {
    expect(bridgeUrlFor("/ws", "https://dash.example.com/#market")).toBe("wss://dash.example.com/ws");
    expect(bridgeUrlFor("/ws", "http://127.0.0.1:8000/")).toBe("ws://127.0.0.1:8000/ws");
    expect(bridgeUrlFor("ws://127.0.0.1:8765/ws", "http://127.0.0.1:8000/")).toBe("ws://127.0.0.1:8765/ws");
  });
});
