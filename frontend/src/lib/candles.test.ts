import { describe, expect, it } from "vitest";

import { applyTrade } from "./candles";

describe("live candles", () => {
  it("extends the current bar and opens the next one", () => {
    let bar = applyTrade(undefined, 100, 60_500, 60);
    expect(bar).toEqual({ time: 60, open: 100, high: 100, low: 100, close: 100 });
    bar = applyTrade(bar, 105, 70_000, 60);
    bar = applyTrade(bar, 95, 80_000, 60);
    expect(bar).toEqual({ time: 60, open: 100, high: 105, low: 95, close: 95 });
    expect(applyTrade(bar, 97, 120_000, 60)).toEqual({ time: 120, open: 97, high: 97, low: 97, close: 97 });
    expect(applyTrade(bar, 1, 10_000, 60)).toBe(bar);
  });
});
