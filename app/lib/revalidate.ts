import { useCallback, useEffect, useRef } from "react";
import { useRevalidator } from "@remix-run/react";

/**
 * Revalidates the route's loaders on socket events, at most once every `ms`: a burst of events
 * (a judge run storing hundreds of verdicts) costs one reload, and the last event is never lost.
 */
export function useThrottledRevalidate(ms: number): () => void {
  const revalidator = useRevalidator();
  const ref = useRef(revalidator.revalidate);
  ref.current = revalidator.revalidate;
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const last = useRef(0);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
    },
    [],
  );
  return useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(
      () => {
        timer.current = null;
        last.current = Date.now();
        ref.current();
      },
      Math.max(0, last.current + ms - Date.now()),
    );
  }, [ms]);
}
