/**
 * The rocketmq-ts servers as a library: start a NameServer, a Broker or both in one process with the
 * runtime adapters of your choice (`./server/bun` or `./server/deno` export `listen`;
 * `./server/bun/web-socket` and `./server/deno/web-socket` export `listenWebSocket`, for a
 * `webSocketPort`).
 *
 * @example Run a standalone system on Bun
 * ```ts
 * import { startStandalone } from "./server/mod.ts";
 * import { listen } from "./server/bun/listen.ts";
 * import { dial } from "./server/bun/connect.ts";
 *
 * const system = await startStandalone({ listen, dial, dataDir: "./data", port: 0, nameServerPort: 0 });
 * console.log(system.nameServerAddress);
 * await system.close();
 * ```
 *
 * @module
 */
export { type Broker, type BrokerOptions, startBroker } from "./broker/broker.ts";
export { type NameServer, type NameServerOptions, startNameServer } from "./namesrv/name_server.ts";
export {
  ConnectionGuard,
  type ConnectionGuardOptions,
  type ConnectionLimits,
  type GuardedConnection,
  type PendingFrameBytes,
} from "../core/remoting/connection_guard.ts";
export { type Standalone, type StandaloneOptions, startStandalone } from "./standalone.ts";
export type { WebSocketServerOptions } from "./_client_listener.ts";
export type { WebSocketListen, WebSocketListenOptions } from "../core/remoting/web_socket.ts";
export { MessageStore } from "./store/message_store.ts";
export type { GetResult, MessageStoreOptions, PutResult, StoreInput } from "./store/store_types.ts";
export { FileSegmentStorage } from "./store/file_segment_storage.ts";
export { MemorySegmentStorage } from "./store/memory_segment_storage.ts";
export type { SegmentFile, SegmentStorage } from "./store/segment_storage.ts";
export { type Config, ConfigError, type LoadConfigOptions } from "./config.ts";
export { loadConfig } from "./load_config.ts";
