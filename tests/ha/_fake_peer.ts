/**
 * Hostile replication peers for tests: a fake slave (a raw socket speaking the HA protocol to a
 * master) and a fake master (a raw listener a real slave dials), both built from the protocol's
 * own encoder and decoder so they say exactly what an attacker could say.
 */
import { connect as netConnect, createServer, type Server, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { importHmacKey } from "../../core/auth/signing.ts";
import { newNonce, proveKey } from "../../server/ha/ha_auth.ts";
import {
  encodeAuth,
  encodeHello,
  encodeReport,
  HA_PROTOCOL_VERSION,
  HaAuthKind,
  type HaFrame,
  HaFrameDecoder,
  HaFrameType,
  type HelloFrame,
} from "../../server/ha/ha_protocol.ts";
import { until } from "../_helpers/wait.ts";

/** A raw HA connection and everything it received. */
export interface RawPeer {
  socket: Socket;
  frames: HaFrame[];
  /** Resolves once the other side closed the connection. */
  closed: Promise<void>;
  /** Waits for a frame of a type. */
  next(type: HaFrameType, timeoutMs?: number): Promise<HaFrame>;
  send(bytes: Uint8Array): void;
  /** Called with every frame as it arrives. */
  onFrame?: (frame: HaFrame) => void;
}

function wrap(socket: Socket, maxFrameSize: number): RawPeer {
  const decoder = new HaFrameDecoder({ maxFrameSize });
  const frames: HaFrame[] = [];
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => {});
  socket.on("data", (chunk: Buffer) => {
    for (const frame of decoder.push(new Uint8Array(chunk))) {
      frames.push(frame);
      peer.onFrame?.(frame);
    }
  });
  const peer: RawPeer = {
    socket,
    frames,
    closed,
    async next(type, timeoutMs = 5000) {
      await until(() => frames.some((f) => f.type === type), timeoutMs, `a frame of type 0x${type.toString(16)}`, 5);
      return frames.find((f) => f.type === type)!;
    },
    send: (bytes) => void socket.write(bytes),
  };
  return peer;
}

/** What a fake slave claims and proves. */
export interface FakeSlaveOptions {
  port: number;
  brokerName?: string;
  brokerId?: number;
  segmentSize: number;
  /** The secret it proves (a wrong one for an impostor); none sends an unauthenticated HELLO. */
  secret?: string;
  /** Prove an ACL account instead of the cluster secret. */
  accessKey?: string;
  /**
   * Acknowledge every DATA frame as soon as it arrives, without storing anything: what a fake
   * slave does to turn SYNC_MASTER's "no slave available" into SEND_OK. @default false
   */
  ackWhatArrives?: boolean;
  /** Dial TLS, trusting `ca` and presenting `cert` and `key` when given. @default plain TCP */
  tls?: { ca: string; cert?: string; key?: string };
}

/**
 * Connects as a slave, sends HELLO and — when the master answers CHALLENGE and a secret is given —
 * an AUTH computed with that secret (not checking the master's proof: an attacker would not care).
 *
 * @returns The connection, and a promise that resolves once AUTH was sent.
 */
export async function fakeSlave(options: FakeSlaveOptions): Promise<RawPeer & { authSent: Promise<void> }> {
  const tls = options.tls;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s: Socket = tls === undefined
      ? netConnect(options.port, "127.0.0.1", () => resolve(s))
      : tlsConnect({ port: options.port, host: "127.0.0.1", ca: tls.ca, cert: tls.cert, key: tls.key }, () => resolve(s));
    s.once("error", reject);
  });
  const peer = wrap(socket, 64 * 1024 * 1024);
  const hello: Omit<HelloFrame, "type"> = {
    version: HA_PROTOCOL_VERSION,
    offset: 0,
    segmentSize: options.segmentSize,
    brokerId: options.brokerId ?? 1,
    brokerName: options.brokerName ?? "broker-a",
    authKind: options.secret === undefined ? HaAuthKind.NONE : options.accessKey === undefined ? HaAuthKind.CLUSTER_SECRET : HaAuthKind.ACCOUNT,
    accessKey: options.accessKey ?? "",
    nonce: newNonce(),
  };
  const helloBytes = encodeHello(hello);
  if (options.ackWhatArrives === true) {
    peer.onFrame = (frame) => {
      if (frame.type === HaFrameType.DATA && frame.bytes.length > 0) peer.send(encodeReport(frame.offset + frame.bytes.length));
    };
  }
  peer.send(helloBytes);
  let authSent = Promise.resolve();
  if (options.secret !== undefined) {
    const secret = options.secret;
    authSent = peer.next(HaFrameType.CHALLENGE).then(async (frame) => {
      if (frame.type !== HaFrameType.CHALLENGE) return;
      peer.send(encodeAuth(await proveKey(await importHmacKey(secret), "slave", helloBytes, frame.nonce)));
    }, () => {});
  }
  return Object.assign(peer, { authSent });
}

/**
 * Sends REPORTs claiming everything up to `offset` is stored (what a fake slave would do to turn a
 * SYNC_MASTER's "no slave" into SEND_OK).
 */
export function acknowledgeEverything(peer: RawPeer, offset: number): void {
  peer.send(encodeReport(offset));
}

/** A fake master: a listener whose handler gets every accepted connection. */
export interface FakeMaster {
  port: number;
  peers: RawPeer[];
  close(): Promise<void>;
}

/**
 * Listens on a free loopback port as a master would.
 *
 * @param onHello Called with each connection and the HELLO it sent; answers as the test wants.
 * @returns The listener.
 */
export async function fakeMaster(onHello: (peer: RawPeer, hello: HelloFrame) => void): Promise<FakeMaster> {
  const peers: RawPeer[] = [];
  const server: Server = createServer((socket) => {
    const peer = wrap(socket, 1024);
    peers.push(peer);
    void peer.next(HaFrameType.HELLO, 20_000).then((frame) => onHello(peer, frame as HelloFrame), () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    peers,
    close: () =>
      new Promise<void>((resolve) => {
        for (const peer of peers) peer.socket.destroy();
        server.close(() => resolve());
      }),
  };
}
