/**
 * A Server-Sent Events stream of a consumer group's messages: the gateway pops (long-polled, as a
 * receive does) whenever the client's buffer has room, and sends each message as a `message`
 * event carrying its receipt handle; the client acks through the ack endpoint, and what it does not
 * ack comes back after its invisible time, to this stream or another member of the group.
 *
 * Memory is bounded per client: events wait in a buffer of `sseBufferBytes` (plus one pop), and
 * nothing more is popped while it is full. A client that reads nothing for `sseStallTimeoutMs`
 * while its buffer is full has its stream ended (the buffer dropped, no more pops) and its
 * connection closed: on Deno at once (`server/deno/serve.ts` destroys the socket of a body that
 * errors), on Bun once nothing moved through it for its idle timeout (`ServeOptions.idleTimeoutMs`);
 * what was popped for it comes back after its invisible time. While nothing arrives, a comment
 * goes out every `sseHeartbeatMs` so proxies keep the connection and a dead client is noticed.
 *
 * @module
 */
import { type AdminState, brokerProcessor } from "../_state.ts";
import { popMessageProcessor } from "../../broker/processors/pop.ts";
import { authorizeConsume, checkFilter, type PopAsk, popOnce } from "./consume.ts";
import { ErrorBody, GroupTopicPath, StreamQuery } from "./_schemas.ts";
import { type GatewayRoute, route } from "./_spec.ts";

/** Options of the gateway's event streams. */
export interface GatewayStreamOptions {
  /** Bytes of events a stream holds for a client that has not read them. @default 262144 */
  sseBufferBytes?: number;
  /** A client whose full buffer stays unread this long is disconnected, ms. @default 30000 */
  sseStallTimeoutMs?: number;
  /** A comment goes out after this long without a message, ms. @default 15000 */
  sseHeartbeatMs?: number;
}

const ENCODER = new TextEncoder();

/** One SSE event. */
function event(name: string, data: unknown, id?: string): Uint8Array {
  return ENCODER.encode(`${id === undefined ? "" : `id: ${id}\n`}event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
}

/**
 * @param state The admin state.
 * @param options Buffer, stall and heartbeat limits.
 * @returns The stream route.
 */
export function streamRoutes(state: AdminState, options: GatewayStreamOptions = {}): GatewayRoute[] {
  const { sseBufferBytes = 256 * 1024, sseStallTimeoutMs = 30_000, sseHeartbeatMs = 15_000 } = options;
  const pop = brokerProcessor(state, popMessageProcessor);

  return [
    route({
      method: "get",
      path: "/groups/{group}/topics/{topic}/stream",
      operationId: "stream",
      summary: "Stream a group's messages as Server-Sent Events",
      description: "Each `message` event's data is a received message with its receiptHandle: ack it with the ack endpoint within invisibleTimeMs, " +
        "or it is delivered again. Comments keep the connection while nothing arrives; an `error` event ends the stream. " +
        "A client that stops reading is disconnected once its buffer stays full.",
      params: GroupTopicPath,
      query: StreamQuery,
      responses: {
        200: { description: "The event stream", contentType: "text/event-stream" },
        400: { description: "Bad input", schema: ErrorBody },
        403: { description: "No group right or no SUB right on the topic", schema: ErrorBody },
        404: { description: "No such topic", schema: ErrorBody },
        429: { description: "Too many requests wait for messages on the broker (maxHeldPulls)", schema: ErrorBody },
      },
    }, async ({ c, params, query }) => {
      const ctx = authorizeConsume(c, state, params.group, params.topic);
      checkFilter(ctx, query.filterType, query.filter);
      const ask: PopAsk = {
        group: params.group,
        topic: params.topic,
        maxMessages: query.maxMessages,
        invisibleTimeMs: query.invisibleTimeMs,
        waitMs: 0,
        filterType: query.filterType,
        filter: query.filter,
        from: query.from,
      };
      const stop = new AbortController();
      const client = c.req.raw.signal;
      const onClientGone = () => stop.abort();
      client.addEventListener("abort", onClientGone, { once: true });
      // The first pop answers at once, so a refusal (no such topic, the broker busy) is the HTTP status.
      const first = await popOnce(pop!(), ask, stop.signal);
      let lastRead = Date.now();
      let stall: ReturnType<typeof setInterval> | undefined;
      const end = () => {
        clearInterval(stall);
        client.removeEventListener("abort", onClientGone);
        stop.abort();
      };
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const m of first ?? []) controller.enqueue(event("message", m, m.msgId));
          stall = setInterval(() => {
            if ((controller.desiredSize ?? 1) > 0) lastRead = Date.now();
            else if (Date.now() - lastRead >= sseStallTimeoutMs) {
              end();
              controller.error(new Error(`Client read nothing for ${sseStallTimeoutMs} ms with ${sseBufferBytes} bytes of events waiting`));
            }
          }, Math.max(10, Math.min(1000, sseStallTimeoutMs / 4)));
        },
        async pull(controller) {
          lastRead = Date.now();
          try {
            const messages = await popOnce(pop!(), { ...ask, waitMs: sseHeartbeatMs }, stop.signal);
            if (messages === undefined) return;
            if (messages.length === 0) controller.enqueue(ENCODER.encode(": keep-alive\n\n"));
            for (const m of messages) controller.enqueue(event("message", m, m.msgId));
          } catch (error) {
            const cause = error as { message?: string; cause?: { code?: string } };
            controller.enqueue(event("error", { error: { code: cause.cause?.code ?? "INTERNAL", message: cause.message ?? String(error) } }));
            end();
            controller.close();
          }
        },
        cancel() {
          end();
        },
      }, { highWaterMark: sseBufferBytes, size: (chunk) => chunk?.byteLength ?? 0 });
      return c.body(stream, 200, { "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-store", "X-Accel-Buffering": "no" });
    }),
  ];
}
