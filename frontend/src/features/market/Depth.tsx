import { useEffect, useState } from "react";

import type { BridgeEvent, MarketStream } from "../../lib/bridge";

type Level = [string, string];

export function BookDepth({ stream, exchange, symbol }: { stream: MarketStream; exchange: string; symbol: string }) {
  const [book, setBook] = useState<{ bids: Level[]; asks: Level[] }>({ bids: [], asks: [] });
  useEffect(() => {
    setBook({ bids: [], asks: [] });
    const off = stream.subscribe(exchange, [symbol], ["book"]);
    const offEv = stream.onEvent((e: BridgeEvent) => {
      if (e.type === "book" && e.exchange === exchange && e.symbol === symbol)
        setBook({ bids: e.bids as Level[], asks: e.asks as Level[] });
      if (e.type === "gap" && e.exchange === exchange) setBook({ bids: [], asks: [] }); // until a fresh snapshot
    });
    return () => {
      offEv();
      off();
    };
  }, [stream, exchange, symbol]);
  const maxQty = Math.max(1e-12, ...[...book.bids, ...book.asks].map(([, q]) => Number(q)));
  return (
    <div className="book" data-testid="book">
      <h3>
        Order book {exchange} {symbol}
      </h3>
      <table>
        <tbody>
          {[...book.asks].reverse().map(([p, q]) => (
            <tr key={`a${p}`} className="ask">
              <td>{p}</td>
              <td>{q}</td>
              <td>
                <div className="bar" style={{ width: `${(Number(q) / maxQty) * 100}%` }} />
              </td>
            </tr>
          ))}
          {book.bids.map(([p, q]) => (
            <tr key={`b${p}`} className="bid">
              <td>{p}</td>
              <td>{q}</td>
              <td>
                <div className="bar" style={{ width: `${(Number(q) / maxQty) * 100}%` }} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!book.bids.length && <p className="muted">waiting for a consistent book…</p>}
    </div>
  );
}

type Tape = { id: string; side: string; price: string; qty: string; tsMs: number } | { id: string; gap: true };

export function TradeTape({ stream, exchange, symbol }: { stream: MarketStream; exchange: string; symbol: string }) {
  const [tape, setTape] = useState<Tape[]>([]);
  useEffect(() => {
    setTape([]);
    const off = stream.subscribe(exchange, [symbol], ["trades"]);
    const offEv = stream.onEvent((e: BridgeEvent) => {
      if (e.type === "trade" && e.exchange === exchange && e.symbol === symbol) {
        const t: Tape = {
          id: `${e.trade_id as number}`,
          side: e.side as string,
          price: e.price as string,
          qty: e.qty as string,
          tsMs: (e.ts_exchange_ns as number) / 1e6,
        };
        setTape((prev) => [t, ...prev].slice(0, 40));
      } else if (e.type === "gap" && e.exchange === exchange) {
        setTape((prev) => [{ id: `gap${Date.now()}`, gap: true } as Tape, ...prev].slice(0, 40)); // mark the hole
      }
    });
    return () => {
      offEv();
      off();
    };
  }, [stream, exchange, symbol]);
  return (
    <div className="tape" data-testid="tape">
      <h3>Trades</h3>
      <table>
        <tbody>
          {tape.map((t) =>
            "gap" in t ? (
              <tr key={t.id} className="gap">
                <td colSpan={3}>— data gap —</td>
              </tr>
            ) : (
              <tr key={t.id} className={t.side}>
                <td>{new Date(t.tsMs).toISOString().slice(11, 23)}</td>
                <td>{t.price}</td>
                <td>{t.qty}</td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}
