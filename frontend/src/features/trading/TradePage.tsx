import { useEffect, useState, type FormEvent } from "react";

import { api, ApiError, type Account, type Instrument, type OrderIn } from "../../api/client";
import { usePoll } from "../../lib/usePoll";

export function TradePage({ canTrade }: { canTrade: boolean }) {
  const [accounts, setAccounts] = useState<Account[]>([]);
  const [instruments, setInstruments] = useState<Instrument[]>([]);
  const [accountId, setAccountId] = useState<number | undefined>(undefined);
  const [instrument, setInstrument] = useState("");
  const [side, setSide] = useState<"buy" | "sell">("buy");
  const [type, setType] = useState<"market" | "limit">("limit");
  const [quantity, setQuantity] = useState("");
  const [limitPrice, setLimitPrice] = useState("");
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [refresh, setRefresh] = useState(0);

  useEffect(() => {
    void api.accounts().then((list) => {
      setAccounts(list);
      if (list[0]) setAccountId((id) => id ?? list[0]?.id);
    });
    void api.instruments().then((list) => {
      setInstruments(list);
      if (list[0]) setInstrument((s) => s || `${list[0]?.exchange}|${list[0]?.symbol}`);
    });
  }, []);
  const { data: orders } = usePoll(() => api.orders(accountId), 2000, [accountId, refresh]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const [exchange, symbol] = instrument.split("|");
    if (accountId === undefined || !exchange || !symbol) return;
    const order: OrderIn = {
      account_id: accountId,
      exchange,
      symbol,
      side,
      type,
      quantity,
      limit_price: type === "limit" ? limitPrice : null,
      time_in_force: type === "limit" ? "gtc" : "ioc",
    };
    try {
      const placed = await api.submitOrder(order);
      setMessage(`order ${placed.id.slice(0, 8)} queued (${placed.status})`);
      setRefresh((n) => n + 1);
    } catch (err) {
      setMessage(err instanceof ApiError ? `refused: ${err.detail}` : String(err));
    }
  }

  return (
    <section>
      <h2>Order ticket (paper trading)</h2>
      {!canTrade && <p className="muted">Viewers can see orders but not place them.</p>}
      <form className="ticket" onSubmit={submit} data-testid="order-ticket">
        <select value={accountId ?? ""} onChange={(e) => setAccountId(Number(e.target.value))} name="account">
          {accounts.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </select>
        <select value={instrument} onChange={(e) => setInstrument(e.target.value)} name="instrument">
          {instruments.map((i) => (
            <option key={`${i.exchange}|${i.symbol}`} value={`${i.exchange}|${i.symbol}`}>
              {i.exchange} {i.symbol}
            </option>
          ))}
        </select>
        <select value={side} onChange={(e) => setSide(e.target.value as "buy" | "sell")} name="side">
          <option>buy</option>
          <option>sell</option>
        </select>
        <select value={type} onChange={(e) => setType(e.target.value as "market" | "limit")} name="type">
          <option>limit</option>
          <option>market</option>
        </select>
        <input name="quantity" placeholder="quantity" value={quantity} onChange={(e) => setQuantity(e.target.value)} />
        {type === "limit" && (
          <input name="limit_price" placeholder="limit price" value={limitPrice} onChange={(e) => setLimitPrice(e.target.value)} />
        )}
        <button type="submit" disabled={!canTrade || !quantity || (type === "limit" && !limitPrice)}>
          {side === "buy" ? "Buy" : "Sell"}
        </button>
      </form>
      {message && (
        <p className="message" role="status" data-testid="order-message">
          {message}
        </p>
      )}
      <h3>Orders</h3>
      <table data-testid="orders-table">
        <thead>
          <tr>
            <th>created</th>
            <th>instrument</th>
            <th>side</th>
            <th>type</th>
            <th>qty</th>
            <th>limit</th>
            <th>filled</th>
            <th>status</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(orders?.items ?? []).map((o) => (
            <tr key={o.id} data-testid="order-row">
              <td>{new Date(o.created_at).toLocaleTimeString()}</td>
              <td>
                {o.exchange} {o.symbol}
              </td>
              <td className={o.side}>{o.side}</td>
              <td>{o.type}</td>
              <td>{o.quantity}</td>
              <td>{o.limit_price ?? "—"}</td>
              <td>{o.filled_qty}</td>
              <td>{o.status}</td>
              <td>
                {canTrade && ["pending_new", "accepted", "partially_filled"].includes(o.status) && !o.cancel_requested_at && (
                  <button onClick={() => void api.cancelOrder(o.id).then(() => setRefresh((n) => n + 1))}>cancel</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
