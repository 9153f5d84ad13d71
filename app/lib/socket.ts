import { useEffect, useRef, useState } from "react";
import { io, type Socket } from "socket.io-client";
import { type ClientToServerEvents, type ServerToClientEvents } from "../../server/realtime/contract";

export type ProjectSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export type SocketHandlers = Partial<{ [K in keyof ServerToClientEvents]: ServerToClientEvents[K] }>;
export type SocketState = "connecting" | "live" | "offline";

/**
 * Connects (session cookie at the handshake), joins the project room and joins again after every
 * reconnect, since the server forgets rooms when a socket drops. Handlers may change every render.
 */
export function useProjectSocket(projectId: number, mode: "annotate" | "watch", handlers: SocketHandlers): SocketState {
  const handlersRef = useRef(handlers);
  handlersRef.current = handlers;
  const [state, setState] = useState<SocketState>("connecting");

  useEffect(() => {
    const socket: ProjectSocket = io({ withCredentials: true, reconnectionDelayMax: 5000 });
    const join = () => {
      socket.emit("project:join", { projectId, mode }, (r) => {
        setState("error" in r ? "offline" : "live");
      });
    };
    socket.on("connect", join);
    socket.on("disconnect", () => setState("offline"));
    socket.on("connect_error", () => setState("offline"));
    const events = ["progress:updated", "judgment:created", "annotators:updated", "pairs:imported", "presence:updated", "job:updated", "job:progress", "round:updated", "judges:updated"] as const;
    for (const name of events) {
      socket.on(name, ((payload: { projectId: number }) => {
        if (payload.projectId !== projectId) return;
        const h = handlersRef.current[name] as ((p: unknown) => void) | undefined;
        h?.(payload);
      }) as never);
    }
    // Worker status is global (the staff room), so it carries no projectId.
    socket.on("workers:updated", (payload) => handlersRef.current["workers:updated"]?.(payload));
    return () => {
      socket.removeAllListeners();
      socket.disconnect();
    };
  }, [projectId, mode]);

  return state;
}
