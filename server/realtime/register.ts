import { type Server as HttpServer } from "node:http";
import { Server } from "socket.io";
import { type SessionUser } from "../domain/auth/auth-service.ts";
import { DomainError } from "../domain/shared/errors.ts";
import { type DomainEvents } from "../domain/shared/events.ts";
import { type Services } from "../services.ts";
import { userFromRequest } from "../api/http-auth.ts";
import {
  type ClientToServerEvents,
  joinPayloadSchema,
  leavePayloadSchema,
  type PresenceEntry,
  rooms,
  type ServerToClientEvents,
} from "./contract.ts";

type SocketData = { user: SessionUser; joined: Map<number, "staff" | "annotator"> };

const PROGRESS_THROTTLE_MS = 250;
const ANNOTATORS_THROTTLE_MS = 1500;
const JUDGES_THROTTLE_MS = 1000;

/**
 * socket.io on the app's HTTP server: cookie or bearer auth at the handshake, a project room for
 * members and a staff room for researchers. Annotators never receive other people's labels.
 */
export function registerRealtime(httpServer: HttpServer, services: Services) {
  const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(httpServer, {
    serveClient: false,
    maxHttpBufferSize: 16 * 1024,
  });
  const presence = new Map<number, Map<string, PresenceEntry>>();
  const progressTimers = new Map<number, NodeJS.Timeout>();
  const annotatorTimers = new Map<number, NodeJS.Timeout>();

  io.use(async (socket, next) => {
    try {
      const token = typeof socket.handshake.auth?.token === "string" ? socket.handshake.auth.token : undefined;
      const headers = token ? { ...socket.request.headers, authorization: `Bearer ${token}` } : socket.request.headers;
      const user = await userFromRequest(services, { headers });
      if (!user) return next(new Error("unauthenticated"));
      socket.data.user = user;
      socket.data.joined = new Map();
      next();
    } catch {
      next(new Error("unauthenticated"));
    }
  });

  const emitPresence = (projectId: number) => {
    const online = [...(presence.get(projectId)?.values() ?? [])];
    // One entry per person, however many tabs they have open.
    const byUser = new Map<number, PresenceEntry>();
    for (const e of online) {
      const cur = byUser.get(e.userId);
      if (!cur || (e.mode === "annotate" && cur.mode !== "annotate")) byUser.set(e.userId, e);
    }
    io.to(rooms.staff(projectId)).emit("presence:updated", { projectId, online: [...byUser.values()] });
  };

  const leave = (socketId: string, projectId: number) => {
    const m = presence.get(projectId);
    if (m?.delete(socketId)) emitPresence(projectId);
  };

  io.on("connection", (socket) => {
    if (socket.data.user.role !== "annotator") void socket.join(rooms.allStaff);
    socket.on("project:join", async (payload, ack) => {
      const reply = typeof ack === "function" ? ack : () => {};
      const parsed = joinPayloadSchema.safeParse(payload);
      if (!parsed.success) return reply({ error: { code: "validation_failed", message: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") } });
      const { projectId, mode } = parsed.data;
      try {
        const access = await services.projects.requireMember(socket.data.user, projectId);
        const staff = access.memberRole !== "annotator";
        await socket.join(rooms.everyone(projectId));
        if (staff) await socket.join(rooms.staff(projectId));
        socket.data.joined.set(projectId, staff ? "staff" : "annotator");
        if (!presence.has(projectId)) presence.set(projectId, new Map());
        presence.get(projectId)!.set(socket.id, { userId: socket.data.user.id, name: socket.data.user.name, mode, since: Date.now() });
        emitPresence(projectId);
        reply({ data: { role: access.memberRole } });
        if (staff) {
          const online = [...(presence.get(projectId)?.values() ?? [])];
          socket.emit("presence:updated", { projectId, online });
        }
      } catch (e) {
        const err = e instanceof DomainError ? e : new DomainError("internal", "Could not join");
        reply({ error: { code: err.code, message: err.message } });
      }
    });

    socket.on("project:leave", async (payload) => {
      const parsed = leavePayloadSchema.safeParse(payload);
      if (!parsed.success) return;
      await socket.leave(rooms.everyone(parsed.data.projectId));
      await socket.leave(rooms.staff(parsed.data.projectId));
      socket.data.joined.delete(parsed.data.projectId);
      leave(socket.id, parsed.data.projectId);
    });

    socket.on("disconnect", () => {
      for (const projectId of socket.data.joined?.keys() ?? []) leave(socket.id, projectId);
    });
  });

  const flushProgress = async (projectId: number) => {
    progressTimers.delete(projectId);
    if (!io.sockets.adapter.rooms.get(rooms.everyone(projectId))?.size) return;
    const project = await services.projects.get(projectId);
    if (!project) return;
    const counts = await services.annotation.progressCounts(projectId, project.judgmentsPerPair);
    io.to(rooms.everyone(projectId)).emit("progress:updated", { projectId, counts });
  };

  const flushAnnotators = async (projectId: number) => {
    annotatorTimers.delete(projectId);
    if (!io.sockets.adapter.rooms.get(rooms.staff(projectId))?.size) return;
    const annotators = await services.annotation.annotatorStatsUnchecked(projectId);
    io.to(rooms.staff(projectId)).emit("annotators:updated", { projectId, annotators });
  };

  const schedule = (timers: Map<number, NodeJS.Timeout>, ms: number, projectId: number, fn: (id: number) => Promise<void>) => {
    if (timers.has(projectId)) return;
    timers.set(
      projectId,
      setTimeout(() => {
        fn(projectId).catch((e) => console.error("realtime flush failed:", e));
      }, ms),
    );
  };

  // Agreement figures move with every human label and every verdict: tell staff at most once a second.
  const judgesTimers = new Map<number, NodeJS.Timeout>();
  const flushJudges = async (projectId: number) => {
    judgesTimers.delete(projectId);
    io.to(rooms.staff(projectId)).emit("judges:updated", { projectId });
  };

  const events: DomainEvents = {
    judgmentCreated(e) {
      io.to(rooms.staff(e.projectId)).emit("judgment:created", { projectId: e.projectId, judgmentId: e.judgmentId, annotatorId: e.annotatorId, createdAt: e.createdAt });
      schedule(annotatorTimers, ANNOTATORS_THROTTLE_MS, e.projectId, flushAnnotators);
      schedule(judgesTimers, JUDGES_THROTTLE_MS, e.projectId, flushJudges);
    },
    judgesUpdated(projectId) {
      schedule(judgesTimers, JUDGES_THROTTLE_MS, projectId, flushJudges);
    },
    pairsImported(e) {
      io.to(rooms.everyone(e.projectId)).emit("pairs:imported", { projectId: e.projectId, imported: e.imported, kind: e.kind });
    },
    progressChanged(projectId) {
      schedule(progressTimers, PROGRESS_THROTTLE_MS, projectId, flushProgress);
    },
    membersChanged(projectId) {
      schedule(annotatorTimers, ANNOTATORS_THROTTLE_MS, projectId, flushAnnotators);
    },
    jobUpdated(job) {
      const { params: _p, inputs: _i, outputs: _o, ...rest } = job;
      io.to(rooms.staff(job.project_id)).emit("job:updated", { projectId: job.project_id, job: rest });
    },
    jobProgress(e) {
      io.to(rooms.staff(e.projectId)).emit("job:progress", e);
    },
    jobFinished() {},
    roundUpdated(projectId, roundId) {
      io.to(rooms.staff(projectId)).emit("round:updated", { projectId, roundId });
    },
    workersChanged() {
      io.to(rooms.allStaff).emit("workers:updated", { at: Date.now() });
    },
  };

  const close = async () => {
    for (const t of [...progressTimers.values(), ...annotatorTimers.values(), ...judgesTimers.values()]) clearTimeout(t);
    await new Promise<void>((r) => io.close(() => r()));
  };

  return { io, events, close };
}
