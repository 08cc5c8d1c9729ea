import { describe, expect, it } from "vitest";

import { groupSubscriptions } from "./bridge";

describe("bridge subscriptions", () => {
  it("groups keys by exchange and channel", () => {
    const msgs = groupSubscriptions(["binance|BTC-USDT|quotes", "binance|ETH-USDT|quotes", "kraken|BTC-USDT|trades"]);
    expect(msgs).toEqual([
      { exchange: "binance", symbols: ["BTC-USDT", "ETH-USDT"], channels: ["quotes"] },
      { exchange: "kraken", symbols: ["BTC-USDT"], channels: ["trades"] },
    ]);
  });
});
