import { useEffect, useMemo, useState } from "react";

import { api, type Instrument } from "../../api/client";
import type { BridgeEvent, MarketStream } from "../../lib/bridge";
import { changePct, crossExchangeSpreads, fmt, isStale, num, spreadBps, type Top } from "../../lib/market";
import { BookDepth, TradeTape } from "./Depth";

const key = (exchange: string, symbol: string) => `${exchange}|${symbol}`;

export function MarketView({ stream }: { stream: MarketStream | undefined }) {
  const [instruments, setInstruments] = useState<Instrument[]>([]);
  const [tops, setTops] = useState<Map<string, Top>>(new Map());
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    void api.instruments().then(setInstruments);
    // history first: the page never starts empty, even before the bridge answers
    void api.latestQuotes().then((quotes) =>
      setTops((prev) => {
        const next = new Map(prev);
        for (const q of quotes) {
          const k = key(q.exchange, q.symbol);
          const old = next.get(k);
          next.set(k, {
            exchange: q.exchange,
            symbol: q.symbol,
            bid: num(q.bid_price),
            ask: num(q.ask_price),
            last: old?.last ?? null,
            open: old?.open ?? null,
            tsRecvMs: q.ts_recv_ns / 1e6,
          });
        }
        return next;
      }),
    );
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);

  // Live: quotes and trades of every instrument on this page.
  useEffect(() => {
    if (!stream || !instruments.length) return;
    const byExchange = new Map<string, string[]>();
    for (const i of instruments) byExchange.set(i.exchange, [...(byExchange.get(i.exchange) ?? []), i.symbol]);
    const offs = [...byExchange].map(([ex, syms]) => stream.subscribe(ex, syms, ["quotes", "trades"]));
    const offEvents = stream.onEvent((e: BridgeEvent) => {
      if (e.type !== "quote" && e.type !== "trade") return;
      const k = key(e.exchange as string, e.symbol as string);
      setTops((prev) => {
        const next = new Map(prev);
        const old = next.get(k) ?? {
          exchange: e.exchange as string,
          symbol: e.symbol as string,
          bid: null,
          ask: null,
          last: null,
          open: null,
          tsRecvMs: 0,
        };
        const tsRecvMs = (e.ts_recv_ns as number) / 1e6;
        if (e.type === "quote")
          next.set(k, { ...old, bid: num(e.bid_price as string), ask: num(e.ask_price as string), tsRecvMs });
        else {
          const price = num(e.price as string);
          next.set(k, { ...old, last: price, open: old.open ?? price, tsRecvMs });
        }
        return next;
      });
    });
    return () => {
      offEvents();
      offs.forEach((off) => off());
    };
  }, [stream, instruments]);

  const rows = useMemo(() => [...tops.values()].sort((a, b) => key(a.exchange, a.symbol).localeCompare(key(b.exchange, b.symbol))), [tops]);
  const cross = useMemo(() => crossExchangeSpreads(rows), [rows]);
  const crossSymbols = new Set(cross.filter((c) => c.bps > 0).map((c) => c.symbol));
  const [selExchange, selSymbol] = selected?.split("|") ?? [];

  return (
    <section>
      <h2>Market</h2>
      <table className="quotes" data-testid="quotes-table">
        <thead>
          <tr>
            <th>exchange</th>
            <th>symbol</th>
            <th>last</th>
            <th>change</th>
            <th>bid</th>
            <th>ask</th>
            <th>spread (bps)</th>
            <th>age</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((t) => {
            const k = key(t.exchange, t.symbol);
            const stale = isStale(t.tsRecvMs, now);
            const change = changePct(t);
            return (
              <tr
                key={k}
                data-testid={`quote-${t.exchange}-${t.symbol}`}
                className={[stale ? "stale" : "", crossSymbols.has(t.symbol) ? "cross" : "", k === selected ? "selected" : ""].join(" ")}
                onClick={() => setSelected(k)}
              >
                <td>{t.exchange}</td>
                <td>{t.symbol}</td>
                <td data-testid="last">{fmt(t.last ?? (t.bid !== null && t.ask !== null ? (t.bid + t.ask) / 2 : null))}</td>
                <td className={change === null ? "" : change >= 0 ? "up" : "down"}>{change === null ? "—" : `${fmt(change, 2)}%`}</td>
                <td data-testid="bid">{fmt(t.bid)}</td>
                <td data-testid="ask">{fmt(t.ask)}</td>
                <td>{fmt(spreadBps(t), 1)}</td>
                <td>{stale ? `stale ${fmt((now - t.tsRecvMs) / 1000, 0)} s` : "live"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h3>Cross-exchange spread</h3>
      <table className="cross-table" data-testid="cross-table">
        <thead>
          <tr>
            <th>symbol</th>
            <th>buy on (ask)</th>
            <th>sell on (bid)</th>
            <th>bps</th>
          </tr>
        </thead>
        <tbody>
          {cross.map((c) => (
            <tr key={c.symbol} className={c.bps > 0 ? "cross" : ""}>
              <td>{c.symbol}</td>
              <td>
                {c.buyOn} {fmt(c.ask)}
              </td>
              <td>
                {c.sellOn} {fmt(c.bid)}
              </td>
              <td>{fmt(c.bps, 1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {selExchange && selSymbol && stream && (
        <div className="depth">
          <BookDepth stream={stream} exchange={selExchange} symbol={selSymbol} />
          <TradeTape stream={stream} exchange={selExchange} symbol={selSymbol} />
        </div>
      )}
    </section>
  );
}
