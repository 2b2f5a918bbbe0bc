/**
 * Deno's HTTP server adapter: serves a fetch handler (the admin app) with Deno's `node:http`.
 *
 * Not `Deno.serve`: it has no idle timeout and no way to close one connection, so a response
 * stream whose client stopped reading (the gateway's event stream ends it) would keep its
 * connection, and what the server still holds for it, as long as the client keeps the socket.
 * Here a response body that ends in an error destroys its socket at once, a connection idle for
 * `idleTimeoutMs` is closed, and `close()` ends open streams too.
 *
 * @module
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { FetchHandler, Serve } from "../admin/serve_types.ts";

/** A Web Request of a node:http request; its signal aborts when the client goes away first. */
function toRequest(req: IncomingMessage, res: ServerResponse, secure: boolean): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const gone = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) gone.abort();
  });
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
      start(controller) {
        req.on("data", (chunk: Uint8Array) => {
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 1) <= 0) req.pause();
        });
        req.once("end", () => controller.close());
        req.once("error", (error) => controller.error(error));
      },
      pull() {
        req.resume();
      },
      cancel() {
        req.destroy();
      },
    }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength })
    : null;
  const host = headers.get("host") ?? "localhost";
  return new Request(`${secure ? "https" : "http"}://${host}${req.url ?? "/"}`, {
    method,
    headers,
    body,
    signal: gone.signal,
    ...(body === null ? {} : { duplex: "half" }),
  } as RequestInit);
}

const NOT_YET = Symbol("not yet");

/** Writes a Web Response; a body that errors, or a client gone, ends the connection. */
async function send(response: Response, res: ServerResponse): Promise<void> {
  res.statusCode = response.status;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const closed = new Promise<undefined>((resolve) => res.once("close", () => resolve(undefined)));
  // Rejects as soon as the body errors, even while a write waits for the client to drain.
  const failed = reader.closed.then(() => new Promise<never>(() => {}));
  failed.catch(() => {});
  try {
    const first = await Promise.race([reader.read(), closed]);
    if (first === undefined) return void await reader.cancel();
    if (first.done) return void res.end();
    // A body that is all there already (the JSON and pages of the app) leaves in one write with its
    // length; a stream (the gateway's events) is written as it comes.
    let next: Promise<ReadableStreamReadResult<Uint8Array>> | undefined = reader.read();
    const now = await Promise.race([next, Promise.resolve(NOT_YET)]);
    if (now !== NOT_YET && now.done) return void res.end(first.value);
    let chunk: Uint8Array | undefined = first.value;
    for (;;) {
      if (chunk !== undefined && !res.write(chunk)) {
        const drained = new Promise<boolean>((resolve) => res.once("drain", () => resolve(true)));
        if (!await Promise.race([drained, closed.then(() => false), failed])) return void await reader.cancel();
      }
      const result = await Promise.race([next ?? reader.read(), closed]);
      next = undefined;
      if (result === undefined) return void await reader.cancel();
      if (result.done) break;
      chunk = result.value;
    }
    res.end();
  } catch {
    // The body failed (the gateway ended a stalled stream): nothing more can be said on this response.
    res.destroy();
  }
}

/**
 * Serves `fetch` with Deno's `node:http` (`node:https` with TLS).
 *
 * @param options Address, port (0 picks a free one), TLS identity and idle timeout.
 * @param fetch The request handler, e.g. `app.fetch`.
 * @returns The running server, once it listens.
 */
export const serve: Serve = (options, fetch: FetchHandler) => {
  const secure = options.tls !== undefined;
  const sockets = new Set<Socket>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    let request: Request;
    try {
      request = toRequest(req, res, secure);
    } catch {
      res.writeHead(400).end();
      return;
    }
    Promise.resolve()
      .then(() => fetch(request))
      .then((response) => send(response, res))
      .catch(() => res.destroy());
  };
  const server: Server = secure ? createHttpsServer({ cert: options.tls!.cert, key: options.tls!.key }, handle) : createHttpServer(handle);
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // Past the gateway's longest receive wait (30 s) and its stream heartbeats (15 s).
  server.setTimeout(options.idleTimeoutMs ?? 40_000, (socket: Socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      const address = server.address();
      resolve({
        hostname: options.hostname,
        port: typeof address === "object" && address !== null ? address.port : options.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          }),
      });
    });
  });
};
