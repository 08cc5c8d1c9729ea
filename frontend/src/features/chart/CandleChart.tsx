import { CandlestickSeries, createChart, type IChartApi, type ISeriesApi, type UTCTimestamp } from "lightweight-charts";
import { useEffect, useRef, useState } from "react";

import { api, type Instrument } from "../../api/client";
import type { BridgeEvent, MarketStream } from "../../lib/bridge";
import { applyTrade, type Bar } from "../../lib/candles";

const INTERVALS: Record<string, number> = { "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400 };

export function CandleChart({ stream }: { stream: MarketStream | undefined }) {
  const [instruments, setInstruments] = useState<Instrument[]>([]);
  const [selected, setSelected] = useState<string>("");
  const [interval, setInterval_] = useState("1m");
  const [status, setStatus] = useState("loading");
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  const series = useRef<ISeriesApi<"Candlestick"> | null>(null);
  const last = useRef<Bar | undefined>(undefined);

  useEffect(() => {
    void api.instruments().then((list) => {
      setInstruments(list);
      const first = list[0];
      if (first) setSelected((s) => s || `${first.exchange}|${first.symbol}`);
    });
  }, []);

  useEffect(() => {
    if (!box.current) return;
    const c = createChart(box.current, {
      height: 420,
      layout: { background: { color: "#0e1116" }, textColor: "#c9d1d9" },
      grid: { vertLines: { color: "#21262d" }, horzLines: { color: "#21262d" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    chart.current = c;
    series.current = c.addSeries(CandlestickSeries, {});
    return () => {
      c.remove();
      chart.current = null;
      series.current = null;
    };
  }, []);

  // History from the API, then live bars from the bridge's trades.
  useEffect(() => {
    const [exchange, symbol] = selected.split("|");
    if (!exchange || !symbol) return;
    const intervalS = INTERVALS[interval] ?? 60;
    let alive = true;
    setStatus("loading");
    void api.candles(exchange, symbol, interval).then(
      (page) => {
        if (!alive || !series.current) return;
        const bars: Bar[] = page.items.map((c) => ({
          time: Date.parse(c.ts) / 1000,
          open: Number(c.open),
          high: Number(c.high),
          low: Number(c.low),
          close: Number(c.close),
        }));
        series.current.setData(bars.map((b) => ({ ...b, time: b.time as UTCTimestamp })));
        last.current = bars[bars.length - 1];
        chart.current?.timeScale().fitContent();
        setStatus(`${bars.length} candles`);
      },
      (e: unknown) => setStatus(`error: ${String(e)}`),
    );
    if (!stream) return () => void (alive = false);
    const off = stream.subscribe(exchange, [symbol], ["trades"]);
    const offEv = stream.onEvent((e: BridgeEvent) => {
      if (e.type !== "trade" || e.exchange !== exchange || e.symbol !== symbol || !series.current) return;
      const bar = applyTrade(last.current, Number(e.price), (e.ts_exchange_ns as number) / 1e6, intervalS);
      if (bar !== last.current) {
        series.current.update({ ...bar, time: bar.time as UTCTimestamp });
        last.current = bar;
      }
    });
    return () => {
      alive = false;
      offEv();
      off();
    };
  }, [selected, interval, stream]);

  return (
    <section>
      <h2>Chart</h2>
      <div className="controls">
        <select value={selected} onChange={(e) => setSelected(e.target.value)} data-testid="chart-symbol">
          {instruments.map((i) => (
            <option key={`${i.exchange}|${i.symbol}`} value={`${i.exchange}|${i.symbol}`}>
              {i.exchange} {i.symbol}
            </option>
          ))}
        </select>
        <select value={interval} onChange={(e) => setInterval_(e.target.value)}>
          {Object.keys(INTERVALS).map((k) => (
            <option key={k}>{k}</option>
          ))}
        </select>
        <span className="muted" data-testid="chart-status">
          {status}
        </span>
      </div>
      <div ref={box} className="chart" data-testid="chart" />
    </section>
  );
}
