// The bridge's WebSocket client (docs/bridge.md): auth first, subscribe after every welcome,
// refresh the token before it expires, reconnect with capped backoff, stop on client bugs.

export type Channel = "trades" | "quotes" | "book";
export type BridgeEvent = { type: string; [k: string]: unknown };
export type ConnectionState = "connecting" | "live" | "reconnecting" | "failed" | "closed";

type Key = string; // `${exchange}|${symbol}|${channel}`

export class MarketStream {
  private ws: WebSocket | undefined;
  private delayMs = 250;
  private refresh: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;
  private readonly wanted = new Map<Key, number>(); // reference counts: pages share subscriptions
  private readonly listeners = new Set<(e: BridgeEvent) => void>();
  private readonly stateListeners = new Set<(s: ConnectionState) => void>();
  state: ConnectionState = "connecting";

  constructor(
    private readonly url: string,
    private readonly getToken: () => Promise<string>,
  ) {}

  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.refresh);
    this.ws?.close(1000);
    this.setState("closed");
  }

  onEvent(fn: (e: BridgeEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn: (s: ConnectionState) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  /** Subscribe while on screen; the returned function unsubscribes (reference counted). */
  subscribe(exchange: string, symbols: string[], channels: Channel[]): () => void {
    const added: Key[] = [];
    for (const s of symbols)
      for (const c of channels) {
        const k = `${exchange}|${s}|${c}`;
        const n = this.wanted.get(k) ?? 0;
        this.wanted.set(k, n + 1);
        if (n === 0) added.push(k);
      }
    this.sendKeys("subscribe", added);
    return () => {
      const removed: Key[] = [];
      for (const s of symbols)
        for (const c of channels) {
          const k = `${exchange}|${s}|${c}`;
          const n = (this.wanted.get(k) ?? 1) - 1;
          if (n <= 0) {
            this.wanted.delete(k);
            removed.push(k);
          } else this.wanted.set(k, n);
        }
      this.sendKeys("unsubscribe", removed);
    };
  }

  private sendKeys(op: "subscribe" | "unsubscribe", keys: Key[]): void {
    if (!keys.length || this.ws?.readyState !== WebSocket.OPEN || this.state !== "live") return;
    for (const msg of groupSubscriptions(keys)) this.ws.send(JSON.stringify({ op, ...msg }));
  }

  private setState(s: ConnectionState): void {
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }

  private async connect(): Promise<void> {
    let token: string;
    try {
      token = await this.getToken();
    } catch {
      this.retry();
      return;
    }
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ op: "auth", token }));
    ws.onmessage = (m) => {
      for (const e of JSON.parse(m.data as string) as BridgeEvent[]) {
        if (e.type === "welcome") {
          this.delayMs = 250;
          if (e.id !== "refresh") {
            this.setState("live");
            this.sendKeys("subscribe", [...this.wanted.keys()]);
          }
          const expMs = (e.exp as number) * 1000;
          clearTimeout(this.refresh);
          this.refresh = setTimeout(
            async () => ws.send(JSON.stringify({ op: "auth", token: await this.getToken(), id: "refresh" })),
            Math.max(1000, expMs - Date.now() - 20_000),
          );
        }
        for (const fn of this.listeners) fn(e);
      }
    };
    ws.onclose = (c) => {
      clearTimeout(this.refresh);
      if (this.stopped) return;
      if (c.code === 4000 || c.code === 1003 || c.code === 1009) {
        this.setState("failed"); // a client bug: retrying would loop
        return;
      }
      this.retry();
    };
  }

  private retry(): void {
    this.setState("reconnecting");
    setTimeout(() => void this.connect(), this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, 10_000);
  }
}

/** Group `${exchange}|${symbol}|${channel}` keys into one message per exchange and channel set. */
export function groupSubscriptions(keys: string[]): { exchange: string; symbols: string[]; channels: Channel[] }[] {
  const byExchangeChannel = new Map<string, string[]>();
  for (const k of keys) {
    const [exchange, symbol, channel] = k.split("|");
    const g = `${exchange}|${channel}`;
    byExchangeChannel.set(g, [...(byExchangeChannel.get(g) ?? []), symbol as string]);
  }
  return [...byExchangeChannel.entries()].map(([g, symbols]) => {
    const [exchange, channel] = g.split("|");
    return { exchange: exchange as string, symbols: symbols.slice(0, 64), channels: [channel as Channel] };
  });
}

/** The bridge URL from the API's config, absolute: `/ws` (one ingress for both) becomes ws(s)://this-host/ws. */
export function bridgeUrlFor(configured: string, pageUrl: string): string {
  const url = new URL(configured, pageUrl);
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  return url.toString();
}
