import { api } from "../../api/client";
import { usePoll } from "../../lib/usePoll";

export function FeedHealthPage() {
  const { data, error, updatedMs } = usePoll(api.feedHealth, 5000);
  return (
    <section>
      <h2>Feed health</h2>
      {error && <p className="error">{error}</p>}
      <table data-testid="health-table">
        <thead>
          <tr>
            <th>exchange</th>
            <th>symbol</th>
            <th>status</th>
            <th>trades/s (1 min)</th>
            <th>latency p50 / p99 ms</th>
            <th>gaps (1 h)</th>
            <th>last trade</th>
            <th>feed event</th>
          </tr>
        </thead>
        <tbody>
          {(data ?? []).map((h) => (
            <tr key={`${h.exchange}|${h.symbol}`} className={`status-${h.status}`}>
              <td>{h.exchange}</td>
              <td>{h.symbol}</td>
              <td>{h.status}</td>
              <td>{h.trades_per_s_1m}</td>
              <td>
                {h.latency_p50_ms_1m ?? "—"} / {h.latency_p99_ms_1m ?? "—"}
              </td>
              <td>{h.gaps_1h ?? "—"}</td>
              <td>{h.last_trade_age_s === null ? "never" : `${h.last_trade_age_s} s ago`}</td>
              <td>{h.last_feed_event ?? "—"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {updatedMs > 0 && <p className="muted">updated {new Date(updatedMs).toLocaleTimeString()}</p>}
    </section>
  );
}
