/**
 * `GET /api/traffic` and `GET /api/traffic/topics/:topic`: messages in and out per second over
 * the last hour as the broker keeps them (`TrafficHistory`): one point a second for the last
 * minutes and one every ten seconds for the hour, so a chart survives a page reload. Like the
 * topic list's current rates and `/metrics`, any account may read them.
 *
 * @module
 */
import { Hono } from "hono";
import type { TrafficHistoryReading } from "../broker/traffic_history.ts";
import { queueIdsOf } from "./_figures.ts";
import { httpError, validate } from "./_http.ts";
import { type AdminState, requireBroker } from "./_state.ts";
import { TopicParam } from "./topics.ts";

/** An answer of the traffic routes. */
export interface TrafficAnswer extends TrafficHistoryReading {
  brokerName: string;
  /** The topic, or null for the whole broker. */
  topic: string | null;
  /** The broker's time, ms. */
  now: number;
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api/traffic`.
 */
export function trafficRoutes(state: AdminState): Hono {
  const app = new Hono();

  app.get("/", (c) => {
    const ctx = requireBroker(state);
    const answer: TrafficAnswer = { brokerName: ctx.brokerName, topic: null, now: state.now(), ...ctx.trafficHistory.read() };
    return c.json(answer);
  });

  app.get("/topics/:topic", (c) => {
    const { topic } = validate(TopicParam, c.req.param(), "path");
    const ctx = requireBroker(state);
    if (ctx.topics.get(topic) === undefined && queueIdsOf(ctx, topic).length === 0 && !ctx.stats.byTopic.has(topic)) {
      throw httpError(404, "NOT_FOUND", `Topic "${topic}" does not exist on broker "${ctx.brokerName}"`);
    }
    const answer: TrafficAnswer = { brokerName: ctx.brokerName, topic, now: state.now(), ...ctx.trafficHistory.read(topic) };
    return c.json(answer);
  });

  return app;
}
