import { useEffect, useState } from "react";

/** Load now and every `intervalMs`; keeps the last good value and the last error. */
export function usePoll<T>(load: () => Promise<T>, intervalMs: number, deps: unknown[] = []) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [updatedMs, setUpdatedMs] = useState(0);
  useEffect(() => {
    let alive = true;
    const tick = async () => {
      try {
        const value = await load();
        if (!alive) return;
        setData(value);
        setError(undefined);
        setUpdatedMs(Date.now());
      } catch (e) {
        if (alive) setError(e instanceof Error ? e.message : String(e));
      }
    };
    void tick();
    const timer = setInterval(tick, intervalMs);
    return () => {
      alive = false;
      clearInterval(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error, updatedMs };
}
