import { useEffect, useMemo, useState } from "react";

import { api, ApiError, type Session } from "./api/client";
import { Login } from "./features/auth/Login";
import { CandleChart } from "./features/chart/CandleChart";
import { FeedHealthPage } from "./features/health/FeedHealth";
import { MarketView } from "./features/market/MarketView";
import { PortfolioPage } from "./features/portfolio/Portfolio";
import { TradePage } from "./features/trading/TradePage";
import { bridgeUrlFor, MarketStream, type ConnectionState } from "./lib/bridge";

const PAGES = ["market", "chart", "portfolio", "trade", "health"] as const;
type Page = (typeof PAGES)[number];

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [page, setPage] = useState<Page>(() => (location.hash.slice(1) as Page) || "market");
  const [bridgeUrl, setBridgeUrl] = useState<string | undefined>(undefined);
  const [conn, setConn] = useState<ConnectionState>("connecting");

  useEffect(() => {
    api.me().then(setSession, (e) => setSession(e instanceof ApiError && e.status === 401 ? null : null));
    api.config().then(
      (c) => setBridgeUrl(bridgeUrlFor(c.bridge_url, location.href)),
      () => setBridgeUrl(undefined),
    );
  }, []);

  useEffect(() => {
    const onHash = () => setPage((location.hash.slice(1) as Page) || "market");
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);

  // One bridge connection per logged-in page; pages subscribe to what they show.
  const stream = useMemo(() => {
    if (!session || !bridgeUrl) return undefined;
    return new MarketStream(bridgeUrl, async () => (await api.bridgeToken()).token);
  }, [session, bridgeUrl]);
  useEffect(() => {
    if (!stream) return;
    stream.start();
    const off = stream.onState(setConn);
    return () => {
      off();
      stream.stop();
    };
  }, [stream]);

  if (session === undefined) return <div className="loading">Loading…</div>;
  if (session === null) return <Login onLogin={setSession} />;

  return (
    <div className="app">
      <header>
        <strong>AlphaPulse</strong>
        <nav>
          {PAGES.map((p) => (
            <a key={p} href={`#${p}`} className={p === page ? "active" : ""} data-testid={`nav-${p}`}>
              {p}
            </a>
          ))}
        </nav>
        <span className={`conn conn-${conn}`} data-testid="bridge-state" title="live data connection">
          {conn}
        </span>
        <span className="user">
          {session.user.username} ({session.user.role})
        </span>
        <button
          onClick={async () => {
            await api.logout().catch(() => undefined);
            setSession(null);
          }}
        >
          Log out
        </button>
      </header>
      <main>
        {page === "market" && <MarketView stream={stream} />}
        {page === "chart" && <CandleChart stream={stream} />}
        {page === "portfolio" && <PortfolioPage />}
        {page === "trade" && <TradePage canTrade={session.user.role !== "viewer"} />}
        {page === "health" && <FeedHealthPage />}
      </main>
    </div>
  );
}
