// Live candle updates from trades: the chart's last bar follows the tape between API reloads.

export type Bar = { time: number; open: number; high: number; low: number; close: number };

/** The bar after applying one trade (price, exchange time in ms) to the series' last bar. */
export function applyTrade(last: Bar | undefined, price: number, tsMs: number, intervalS: number): Bar {
  const bucket = Math.floor(tsMs / 1000 / intervalS) * intervalS;
  if (!last || bucket > last.time) return { time: bucket, open: price, high: price, low: price, close: price };
  if (bucket < last.time) return last; // a late trade for a closed bar: the next reload corrects it
  return { ...last, high: Math.max(last.high, price), low: Math.min(last.low, price), close: price };
}
