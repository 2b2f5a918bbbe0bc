/**
 * A Cloudflare Worker built from the edge entry, for `tests/client/edge_worker_test.ts` (bundled
 * with `cloudflare:sockets` left to workerd). Each route lives for one request: it starts its
 * clients, does its work against the broker named by the `NAME_SERVER` binding and shuts them down.
 *
 * - `POST /produce` `{ topic, bodies }`: sends each body to queue 0, answers where each went;
 * - `POST /consume/pull` `{ topic, queue, offset, max }`: pulls from a queue, answers the bodies;
 * - `POST /consume/pop` `{ topic, group, max }`: receives up to `max` over POP, acks them, answers
 *   the bodies and delivery attempts;
 * - `POST /drop` `{ broker, announced, fill }`: writes half a frame to the broker and drops the socket;
 * - `POST /abandon` `{ topic, acknowledged }`: sends that many messages, then leaves a 2 MiB send
 *   in flight and answers (workerd cancels the request's sockets when it ends);
 * - `POST /unreachable` `{ nameServer }`: a send through a NameServer nobody listens at;
 * - `GET /no-dial`: a producer without a `dial` option.
 */
import { connect } from "cloudflare:sockets";
import { cloudflareDialer, type MessageQueue, Producer, PullConsumer, SimpleConsumer } from "../../client/edge.ts";

interface Env {
  NAME_SERVER: string;
}

const decoder = new TextDecoder();

async function withProducer<T>(nameServer: string, use: (producer: Producer) => Promise<T>): Promise<T> {
  const producer = new Producer({ nameServer, dial: cloudflareDialer(connect), sendTimeoutMs: 5000 });
  await producer.start();
  try {
    return await use(producer);
  } finally {
    await producer.shutdown();
  }
}

const first = (queues: readonly MessageQueue[]) => queues[0]!;

async function produce(env: Env, input: { topic: string; bodies: string[] }): Promise<unknown> {
  return await withProducer(env.NAME_SERVER, async (producer) => {
    const sent = [];
    for (const body of input.bodies) {
      const result = await producer.send({ topic: input.topic, body }, { selector: first });
      sent.push({ status: result.status, msgId: result.msgId, queue: result.messageQueue, offset: result.queueOffset });
    }
    return sent;
  });
}

async function consumeWithPull(env: Env, input: { queue: MessageQueue; offset: number; max: number }): Promise<unknown> {
  const consumer = new PullConsumer({ nameServer: env.NAME_SERVER, group: "edge-worker", dial: cloudflareDialer(connect) });
  await consumer.start();
  try {
    const result = await consumer.pull(input.queue, input.offset, { maxNums: input.max });
    return { status: result.status, bodies: result.messages.map((m) => decoder.decode(m.body)), next: result.nextBeginOffset };
  } finally {
    await consumer.shutdown();
  }
}

async function consumeWithPop(env: Env, input: { topic: string; group: string; max: number }): Promise<unknown> {
  const consumer = new SimpleConsumer({
    nameServer: env.NAME_SERVER,
    group: input.group,
    dial: cloudflareDialer(connect),
    consumeFromWhere: "FIRST_OFFSET",
    awaitDurationMs: 1000,
  });
  consumer.subscribe(input.topic);
  await consumer.start();
  try {
    const messages = await consumer.receive(input.max, 30_000);
    await Promise.all(messages.map((m) => consumer.ack(m.receiptHandle)));
    return { bodies: messages.map((m) => decoder.decode(m.body)), attempts: messages.map((m) => m.deliveryAttempt) };
  } finally {
    await consumer.shutdown();
  }
}

async function drop(input: { broker: string; announced: number; fill: number }): Promise<unknown> {
  const colon = input.broker.lastIndexOf(":");
  const socket = connect({ hostname: input.broker.slice(0, colon), port: Number(input.broker.slice(colon + 1)) });
  await socket.opened;
  const half = new Uint8Array(4 + input.fill);
  new DataView(half.buffer).setUint32(0, input.announced);
  const writer = socket.writable.getWriter();
  await writer.write(half);
  await socket.close();
  return { wrote: half.length };
}

async function abandon(env: Env, input: { topic: string; acknowledged: number }): Promise<unknown> {
  const producer = new Producer({ nameServer: env.NAME_SERVER, dial: cloudflareDialer(connect) });
  await producer.start();
  const offsets = [];
  for (let i = 0; i < input.acknowledged; i++) {
    offsets.push((await producer.send({ topic: input.topic, body: `acknowledged ${i}` }, { selector: first })).queueOffset);
  }
  // Not awaited: the request ends with this send in flight, and its socket with it.
  producer.send({ topic: input.topic, body: new Uint8Array(2 * 1024 * 1024).fill(7) }, { selector: first }).catch(() => {});
  return { offsets };
}

async function unreachable(input: { nameServer: string }): Promise<unknown> {
  try {
    await withProducer(input.nameServer, (producer) => producer.send({ topic: "nowhere", body: "lost?" }));
    return { error: null };
  } catch (error) {
    return { name: (error as Error).name, error: (error as Error).message };
  }
}

async function noDial(env: Env): Promise<unknown> {
  try {
    await new Producer({ nameServer: env.NAME_SERVER }).start();
    return { error: null };
  } catch (error) {
    return { name: (error as Error).name, error: (error as Error).message };
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const path = new URL(request.url).pathname;
    const input = request.method === "POST" ? await request.json() : undefined;
    try {
      switch (path) {
        case "/produce":
          return Response.json(await produce(env, input as Parameters<typeof produce>[1]));
        case "/consume/pull":
          return Response.json(await consumeWithPull(env, input as Parameters<typeof consumeWithPull>[1]));
        case "/consume/pop":
          return Response.json(await consumeWithPop(env, input as Parameters<typeof consumeWithPop>[1]));
        case "/drop":
          return Response.json(await drop(input as Parameters<typeof drop>[0]));
        case "/abandon":
          return Response.json(await abandon(env, input as Parameters<typeof abandon>[1]));
        case "/unreachable":
          return Response.json(await unreachable(input as Parameters<typeof unreachable>[0]));
        case "/no-dial":
          return Response.json(await noDial(env));
        default:
          return new Response("Not found", { status: 404 });
      }
    } catch (error) {
      return Response.json({ name: (error as Error).name, error: (error as Error).message }, { status: 500 });
    }
  },
};
