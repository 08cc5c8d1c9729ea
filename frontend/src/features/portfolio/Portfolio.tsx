import { useEffect, useState } from "react";

import { api, type Account } from "../../api/client";
import { usePoll } from "../../lib/usePoll";

export function PortfolioPage() {
  const [accounts, setAccounts] = useState<Account[]>([]);
  const [accountId, setAccountId] = useState<number | undefined>(undefined);
  useEffect(() => {
    void api.accounts().then((list) => {
      setAccounts(list);
      if (list[0]) setAccountId((id) => id ?? list[0]?.id);
    });
  }, []);
  const { data: p, error } = usePoll(
    () => (accountId === undefined ? Promise.resolve(undefined) : api.portfolio(accountId)),
    5000,
    [accountId],
  );
  return (
    <section>
      <h2>Portfolio</h2>
      {!accounts.length && <p className="muted">No accounts yet: an admin creates them (POST /api/accounts).</p>}
      <select value={accountId ?? ""} onChange={(e) => setAccountId(Number(e.target.value))}>
        {accounts.map((a) => (
          <option key={a.id} value={a.id}>
            {a.name} ({a.base_currency})
          </option>
        ))}
      </select>
      {error && <p className="error">{error}</p>}
      {p && (
        <>
          <div className="cards" data-testid="portfolio-summary">
            <div>
              equity <strong>{p.equity}</strong> {p.account.base_currency}
            </div>
            <div>
              realised <strong>{p.realised_pnl}</strong>
            </div>
            <div>
              unrealised <strong>{p.unrealised_pnl}</strong>
            </div>
            <div>
              fees <strong>{p.fees}</strong>
            </div>
          </div>
          <h3>Positions</h3>
          <table data-testid="positions">
            <thead>
              <tr>
                <th>exchange</th>
                <th>symbol</th>
                <th>qty</th>
                <th>avg price</th>
                <th>mark</th>
                <th>unrealised</th>
                <th>realised</th>
              </tr>
            </thead>
            <tbody>
              {p.positions.map((pos) => (
                <tr key={`${pos.exchange}|${pos.symbol}`}>
                  <td>{pos.exchange}</td>
                  <td>{pos.symbol}</td>
                  <td>{pos.qty}</td>
                  <td>{pos.avg_price}</td>
                  <td>{pos.mark_price ?? "—"}</td>
                  <td>{pos.unrealised_pnl}</td>
                  <td>{pos.realised_pnl}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h3>Balances</h3>
          <table data-testid="balances">
            <tbody>
              {p.balances.map((b) => (
                <tr key={b.asset}>
                  <td>{b.asset}</td>
                  <td>{b.amount}</td>
                  <td>{b.value ?? "unpriced"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
