/**
 * The broker: stores messages and serves sends, pulls, offsets and topic administration.
 *
 * @module
 */
import { join } from "node:path";
import type { HostAddress } from "../../core/model/message.ts";
import { SCHEDULE_TOPIC, TIMER_TOPIC, TRANSACTION_HALF_TOPIC, TRANSACTION_OP_TOPIC } from "../../core/model/system_topics.ts";
import { TimerMessageStore } from "../store/timer/timer_message_store.ts";
import { DedupWindow } from "./dedup_window.ts";
import { RecallSigner } from "./recall_signer.ts";
import { recallMessageProcessor } from "./processors/recall.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import { Connection } from "../../core/remoting/connection.ts";
import { createDispatcher, type Processor, type RequestTracker } from "../../core/remoting/dispatcher.ts";
import { type Dialer, type Listen, parseAddress } from "../../core/remoting/transport.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../../core/codec/frame.ts";
import * as v from "valibot";
import { FileSegmentStorage } from "../store/file_segment_storage.ts";
import { JsonFile } from "../store/json_file.ts";
import { MessageStore } from "../store/message_store.ts";
import { describeRecovery } from "../store/store_recovery.ts";
import type { SegmentStorage } from "../store/segment_storage.ts";
import { countDeadLetter, countIn, createBrokerStats } from "./broker_stats.ts";
import { ConsumerManager } from "./consumer_manager.ts";
import { ConsumerOffsetManager } from "./consumer_offset_manager.ts";
import { DelayOffsetTable, OffsetTable } from "../../core/protocol/headers.ts";
import type { BrokerContext, BrokerStats } from "./context.ts";
import { NameServerRegistrar } from "./name_server_registrar.ts";
import { allTopicConfigProcessor, createTopicProcessor, deleteTopicProcessor } from "./processors/topics.ts";
import { updateGroupProcessor } from "./processors/groups.ts";
import { queryMessageProcessor, runtimeInfoProcessor, viewMessageProcessor } from "./processors/messages.ts";
import {
  maxOffsetProcessor,
  minOffsetProcessor,
  queryConsumerOffsetProcessor,
  searchOffsetProcessor,
  updateConsumerOffsetProcessor,
} from "./processors/offsets.ts";
import { consumerListProcessor, heartbeatProcessor, unregisterClientProcessor } from "./processors/client.ts";
import { lockBatchProcessor, unlockBatchProcessor } from "./processors/lock.ts";
import { pullMessageProcessor } from "./processors/pull.ts";
import { sendBackProcessor } from "./processors/send_back.ts";
import { sendBatchProcessor, sendBatchRecordsProcessor, sendMessageProcessor } from "./processors/send.ts";
import { PullHoldService } from "./pull_hold_service.ts";
import { loadState, POP_KEY_FILE, POP_STATE_FILE, STATE_FILES } from "./state_files.ts";
import { SubscriptionGroupManager, SubscriptionGroupTable } from "./subscription_group_manager.ts";
import { PopService } from "./pop/pop_service.ts";
import { ensureGroupTopic } from "./message_routing.ts";
import { PopSnapshot } from "./pop/pop_state.ts";
import { popKey, PopKeyFile } from "./pop/pop_key.ts";
import { reviveTopic } from "./pop/pop_records.ts";
import { ReceiptHandles } from "./pop/receipt_handle.ts";
import {
  ackMessageProcessor,
  batchAckMessageProcessor,
  changeInvisibleTimeProcessor,
  popMessageProcessor,
} from "./processors/pop.ts";
import { ConnectionsPerIp, DEFAULT_MAX_CONNECTIONS_PER_IP, hostOf } from "./connections_per_ip.ts";
import {
  type ConnectionGuard,
  connectionGuardOf,
  type ConnectionLimits,
  type GuardedConnection,
} from "../../core/remoting/connection_guard.ts";
import { DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION, InFlightLimit } from "./in_flight_limit.ts";
import { QueueLockManager } from "./queue_lock_manager.ts";
import { ScheduleMessageService } from "./schedule_service.ts";
import { TopicChange, TopicConfigManager, TopicTable } from "./topic_config_manager.ts";
import { JsonJournal } from "../store/json_journal.ts";
import { TrafficWindow } from "./traffic_window.ts";
import { TrafficHistory } from "./traffic_history.ts";
import type { Credentials } from "../../core/auth/signing.ts";
import { clusterCredentials } from "../_cluster_secret.ts";
import type { ControllerAccess } from "../../core/protocol/controller.ts";
import type { AclGuard } from "../acl/acl_guard.ts";
import type { TlsServerOptions } from "../../core/remoting/transport.ts";
import {
  type BrokerRole,
  type Replication,
  type SlaveReplication,
  startMasterReplication,
  startSlaveReplication,
} from "../ha/replication.ts";
import { fencedProcessor, readOnlyProcessor } from "../ha/read_only.ts";
import { allConsumerOffsetProcessor, allDelayOffsetProcessor, epochCacheProcessor } from "./processors/ha_sync.ts";
import type { ControlledRole } from "./controller_link.ts";
import { createLogger, type Log } from "../logger.ts";
import { ProducerManager } from "./producer_manager.ts";
import { type TransactionCheckMaxPolicy, TransactionService } from "./transaction_service.ts";
import { endTransactionProcessor, withHalfMessages } from "./processors/transaction.ts";
import { sendReplyProcessor } from "./processors/reply.ts";
import type { GrpcServer } from "../grpc/grpc_server.ts";
import type { AutoRenewOptions } from "../grpc/receipt_renewal.ts";
import { listenFailure } from "../_listen_error.ts";
import { prebindPorts, type PreboundPorts } from "../_prebound_ports.ts";
import { remotingWire } from "../../core/remoting/remoting_wire.ts";
import { detectProtocol } from "../../core/remoting/wire.ts";
import { createRemotingDispatcher } from "../remoting/remoting_dispatcher.ts";
import { BROKER_UNSUPPORTED, brokerMappings } from "../remoting/broker_mappings.ts";
import { type ClientListener, listenForClients, type WebSocketServerOptions } from "../_client_listener.ts";
import { BrokerTraceWriter, deadLetterView } from "./trace_writer.ts";
import { TRACE_TOPIC } from "../../core/model/trace.ts";

/** Options of `startBroker`. */
export interface BrokerOptions extends ConnectionLimits, WebSocketServerOptions {
  /** The runtime's listen adapter. */
  listen: Listen;
  /** The runtime's dialer, for NameServer links. */
  dial: Dialer;
  /** Where the store, topics and offsets live. */
  dataDir: string;
  /** Segment storage; defaults to files under `dataDir`. */
  storage?: SegmentStorage;
  /** Listen address. @default "0.0.0.0" */
  hostname?: string;
  /** Client port; 0 picks a free one. @default 10911 */
  port?: number;
  /** `host:port` clients are told to use. @default the listen host (127.0.0.1 for 0.0.0.0) and port */
  advertisedAddress?: string;
  /** NameServers to register with, `host:port` each. @default [] */
  nameServers?: string[];
  /** @default "DefaultCluster" */
  clusterName?: string;
  /** @default "broker-a" */
  brokerName?: string;
  /** 0 for a master, 1 or more for a slave. @default 0 */
  brokerId?: number;
  /**
   * Role in the broker group: `ASYNC_MASTER` answers sends once stored locally, `SYNC_MASTER` once
   * a slave also holds them, `SLAVE` copies its master and takes no sends. @default "ASYNC_MASTER"
   */
  brokerRole?: BrokerRole;
  /** Masters: the replication (HA) port; 0 picks a free one. @default the client port + 1 (0 when that is 0) */
  haPort?: number;
  /** Masters: listen for slaves on `haPort`; false opens no replication port (not for SYNC_MASTER). @default true */
  replication?: boolean;
  /** Slaves: the master's HA `host:port`. @default learned from the NameServers' registration answers */
  haMasterAddress?: string;
  /** SYNC_MASTER: how long a send waits for a slave before answering FLUSH_SLAVE_TIMEOUT. @default 3000 */
  syncSlaveTimeoutMs?: number;
  /** Slaves: dials the master's HA and client ports (TLS when the cluster uses it). @default `dial` */
  haDial?: Dialer;
  /** "sync": a send is answered after the fsync covering it. @default "async" */
  flushMode?: "async" | "sync";
  /** Async flush period. @default 500 */
  flushIntervalMs?: number;
  /** CommitLog segment size in bytes. @default 1 GiB */
  commitLogSegmentSize?: number;
  /** Entries per ConsumeQueue file. @default 300000 */
  consumeQueueEntriesPerFile?: number;
  /** Messages are kept this long unless their topic sets `retentionHours`. @default 72 */
  fileReservedTimeHours?: number;
  /** Hours of the day (local time) segments are deleted for age: `"04"`, `"01;02;03"`, `"*"`. @default "04" */
  deleteWhen?: string;
  /** Above this percent of the data disk in use, the oldest segments are deleted even if young. @default 75 */
  diskHighWaterPercent?: number;
  /** At or above this percent of the data disk in use, sends are refused (SERVICE_NOT_AVAILABLE). @default 90 */
  diskHardLimitPercent?: number;
  /** Index messages' keys and unique keys for QUERY_MESSAGE and the admin lookups. @default true */
  messageIndexEnable?: boolean;
  /** Hash slots of each key index file. @default 1000000 */
  maxHashSlotNum?: number;
  /** Entries of each key index file. @default 4000000 */
  maxIndexNum?: number;
  /** Create unknown topics on first send. @default false */
  autoCreateTopicEnable?: boolean;
  /** Queues of the auto-create template topic. @default 8 */
  defaultTopicQueueNums?: number;
  /** Most topics auto-created per second (and in one burst); more sends to new topics get SYSTEM_BUSY. @default 100 */
  autoCreateTopicRate?: number;
  /** Most topics the broker holds (retry and dead-letter topics count); creating more is refused. @default 100000 */
  maxTopicCount?: number;
  /** Largest message body in bytes. @default 4 MiB */
  maxMessageSize?: number;
  /** Largest frame in bytes. @default 8 MiB */
  maxFrameSize?: number;
  /** Requests processed at once per connection; past it a request is answered SYSTEM_BUSY at once. @default 10000 (the producer's own in-flight default) */
  maxInFlightPerConnection?: number;
  /** Open connections from one IP; past it new connections are closed (and logged). @default 1000 */
  maxConnectionsPerIp?: number;
  /**
   * Bounds what unauthenticated connections may buffer in incomplete frames (per IP and in all) and
   * how long they may take to send frames; share one between the servers of a process (the limits
   * among these options are then not read).
   * @default a guard with the limits among these options, logging to `log`
   */
  connectionGuard?: ConnectionGuard;
  /** Most messages one pull returns (a larger `maxMsgNums` is cut to it), 1 to 1024. @default 1024 */
  maxPullBatchSize?: number;
  /** Pulls parked by long polling at once; past it a pull that found nothing is answered SYSTEM_BUSY (consumers back off). @default 10000 */
  maxHeldPulls?: number;
  /** Pulls one connection may park at once, so one client cannot take every slot; past it: SYSTEM_BUSY. @default 1000 */
  maxHeldPullsPerConnection?: number;
  /**
   * Serve SQL92 subscriptions (filters on message properties, evaluated here); off, such pulls
   * are refused with SYSTEM_ERROR. RocketMQ's `enablePropertyFilter`. @default true
   */
  enablePropertyFilter?: boolean;
  /** NameServer re-registration period. @default 30000 */
  registerIntervalMs?: number;
  /** Consumer offsets are saved this often. @default 5000 */
  offsetPersistIntervalMs?: number;
  /** Delay of each level, level 1 first (`ms`, `s`, `m`, `h`, `d`). @default DEFAULT_DELAY_LEVELS */
  messageDelayLevel?: string;
  /** Delivery progress of delayed messages is saved this often. @default 5000 */
  delayOffsetPersistIntervalMs?: number;
  /** Longest delay a timer message may have (its delivery time at most this far ahead). @default 31622400000 (366 days) */
  timerMaxDelayMs?: number;
  /** Seconds the timer wheel spans; later timers are carried forward. Fixed once a store has timers. @default 86400 */
  timerWheelSlots?: number;
  /** A timer's second is loaded into memory this long before it starts. @default 250 */
  timerLookaheadMs?: number;
  /** Minutes of ten-second traffic points the broker keeps per topic (the dashboard's TPS history). @default 60 */
  tpsHistoryMinutes?: number;
  /** Seconds of one-second traffic points the broker keeps per topic. @default 300 */
  tpsHistoryFineSeconds?: number;
  /** Idempotent sends: how long a dedup id is remembered; 0 turns dedup off. @default 120000 */
  dedupWindowMs?: number;
  /** Idempotent sends: most dedup ids remembered (the oldest go first past it). @default 100000 */
  dedupMaxEntries?: number;
  /** Transactions: a half message still unresolved this long after it was stored is checked back with its producer group. @default 6000 */
  transactionTimeoutMs?: number;
  /** Transactions: checks of one half message before `transactionCheckMaxPolicy` resolves it. @default 15 */
  transactionCheckMax?: number;
  /** Transactions: time between two checks of one half message. @default 30000 */
  transactionCheckIntervalMs?: number;
  /** Transactions: what becomes of a half message after `transactionCheckMax` checks (logged either way). @default "rollback" */
  transactionCheckMaxPolicy?: TransactionCheckMaxPolicy;
  /**
   * Message trace: create the trace topic and record, as trace records there, transactions this
   * broker commits or rolls back and messages it moves to a dead-letter topic. RocketMQ's
   * `traceTopicEnable`. @default false
   */
  traceTopicEnable?: boolean;
  /** Message trace: the trace topic. RocketMQ's `msgTraceTopicName`. @default "RMQ_SYS_TRACE_TOPIC" */
  msgTraceTopicName?: string;
  /** A consumer silent for longer leaves its groups. @default 120000 */
  clientExpiryMs?: number;
  /** How often silent consumers are looked for. @default 10000, or clientExpiryMs when shorter */
  clientScanIntervalMs?: number;
  /** A queue lock not renewed for this long may be taken by another client. @default 60000 */
  lockExpiryMs?: number;
  /** Where log lines go. @default a logger naming "broker" */
  log?: Log;
  /** Checks every client request against an ACL (see `server/acl/`). @default none: ACL off */
  acl?: AclGuard;
  /** Serve clients over TLS with this certificate and key (PEM). @default plain TCP */
  tls?: TlsServerOptions;
  /** Serve RocketMQ 5's gRPC clients (`apache.rocketmq.v2.MessagingService`) on this port; 0 picks a free one. Not on a slave. @default off */
  grpcPort?: number;
  /** Serve gRPC over TLS with `tls`'s certificate; false: plaintext (h2c) even when `tls` is set. @default true when `tls` is set */
  grpcTls?: boolean;
  /** false: no gRPC even when `grpcPort` is set. @default true */
  grpcEnabled?: boolean;
  /** A gRPC connection silent this long is pinged, and closed when silent as long again; 0: no keepalive. @default 30000 */
  grpcKeepaliveMs?: number;
  /** A gRPC connection with no call open this long is sent GOAWAY; 0: never. @default 120000 */
  grpcIdleTimeoutMs?: number;
  /** Auto-renew of RocketMQ 5 push consumers' deliveries, in RocketMQ 5 proxy's terms. @default the proxy's defaults (60 s invisible, renewed 10 s ahead, for up to 3 h) */
  grpcAutoRenew?: AutoRenewOptions;
  /**
   * Masters: the replication listener's TLS; with a `clientCa`, slaves must present a certificate
   * it signed (mutual TLS). @default `tls`
   */
  haTls?: TlsServerOptions;
  /**
   * Also answer RocketMQ 4.x remoting clients (ali-ons, Java, Go) on the client port: each
   * connection's first bytes tell which protocol it speaks. @default true
   */
  remotingEnabled?: boolean;
  /** The account NameServer registrations are signed with (when the NameServers enforce ACL). */
  nameServerCredentials?: () => Credentials | undefined;
  /**
   * The cluster secret: NameServer registrations are signed with it (rather than with
   * `nameServerCredentials`), and master and slaves prove it to each other on the HA port.
   * @default none
   */
  clusterSecret?: string;
  /**
   * With ACL: the secret key of an admin account, which a slave may authenticate as on a master's
   * HA port (a slave without a cluster secret authenticates as `nameServerCredentials`). @default none
   */
  peerAccountSecret?: (accessKey: string) => string | undefined;
  /**
   * Controller mode (`startControlledBroker`): the group's master is elected and replaced
   * automatically by the controllers, and `brokerId` names this replica (1 or more). @default false
   */
  enableControllerMode?: boolean;
  /** Controller mode: the controllers (`host:port`, NameServers started with `controllerEtcdEndpoints`). @default `nameServers` */
  controllerAddresses?: string[];
  /** Controller mode: how often the broker heartbeats to the controllers. @default 500 */
  controllerHeartbeatMs?: number;
  /** Controller mode: a replica that has not caught up for this long leaves the in-sync set. @default 3000 */
  inSyncMaxLagMs?: number;
  /** Controller mode: cut the CommitLog back to here at open (set by `startControlledBroker`). */
  truncateTo?: number;
  /** Controller mode: this replica's role, set by `startControlledBroker`. */
  controlled?: ControlledRole;
}

/** A running broker. */
export interface Broker {
  /** `host:port` advertised to clients. */
  readonly address: string;
  readonly port: number;
  /** The options it was started with. */
  readonly options: Readonly<BrokerOptions>;
  readonly context: BrokerContext;
  /** The WebSocket port clients may also connect to, when `webSocketPort` was set. */
  readonly webSocketPort?: number;
  /** Live client connections. */
  readonly connections: ReadonlySet<Connection>;
  /** `host:port` RocketMQ 5 clients are told to use, when gRPC is served. */
  readonly grpcAddress: string | undefined;
  /** The gRPC port, when it is served. */
  readonly grpcPort: number | undefined;
  /** In controller mode: the way to the controllers (the admin API's cluster view and switchover). */
  readonly controller?: ControllerAccess;
  /** Stops accepting, finishes in-flight requests, flushes, unregisters and closes the store. */
  close(): Promise<void>;
}

const HOUR_MS = 3_600_000;

/** Changes to the topic table since `topics.json` was written (see `TopicConfigManager`). */
const TOPICS_JOURNAL_FILE = "topics.journal";

function validator<T>(schema: v.GenericSchema<unknown, T>): (value: unknown) => T {
  return (value) => {
    const parsed = v.safeParse(schema, value);
    if (!parsed.success) throw new TypeError(v.summarize(parsed.issues));
    return parsed.output;
  };
}

function jsonFile<T>(storage: SegmentStorage, path: string, schema: v.GenericSchema<unknown, T>): JsonFile<T> {
  return new JsonFile<T>(path, { storage, validate: validator(schema) });
}

/** Counts a request in the broker's and its connection's requests in flight, and out again. */
function requestTracker(counter: { inFlight: number; idle?: () => void }, limit: InFlightLimit): RequestTracker {
  return {
    enter(connection) {
      counter.inFlight++;
      limit.enter(connection);
    },
    leave(connection) {
      limit.leave(connection);
      if (--counter.inFlight === 0) counter.idle?.();
    },
  };
}

/** A processor counted by `track` while it runs, for callers other than the dispatcher (gRPC). */
function tracked<H>(proc: Processor<H>, track: RequestTracker): Processor<H> {
  return {
    schema: proc.schema,
    ...(proc.fast === undefined ? {} : { fast: proc.fast }),
    handle(header, request, connection) {
      track.enter(connection);
      const done = () => track.leave(connection);
      let result;
      try {
        result = proc.handle(header, request, connection);
      } catch (error) {
        done();
        throw error;
      }
      if (result instanceof Promise) return result.finally(done);
      done();
      return result;
    },
  };
}

/**
 * Opens the store (recovering it), starts listening and registers with the NameServers.
 *
 * @param options Where and how to run.
 * @returns The running broker.
 */
export async function startBroker(options: BrokerOptions): Promise<Broker> {
  const log = options.log ?? createLogger({ component: "broker" });
  const hostname = options.hostname ?? "0.0.0.0";
  const connections = new Set<Connection>();
  let dispatch: ((request: import("../../core/protocol/command.ts").Command, c: Connection) => void) | undefined;
  /** Remoting requests: mapped onto the native ones, then `dispatch`. */
  let remotingDispatch: typeof dispatch;
  let ready: () => void = () => {};
  const readyPromise = new Promise<void>((resolve) => (ready = resolve));
  let accepting = true;
  let onConnectionClosed: (c: Connection) => void = () => {};
  const role = options.brokerRole ?? "ASYNC_MASTER";
  const brokerId = options.brokerId ?? 0;
  if (role === "SLAVE" ? brokerId < 1 : brokerId !== 0) {
    throw new RangeError(
      role === "SLAVE"
        ? `A slave needs brokerId 1 or more (brokerId 0 is the master's), got ${brokerId}`
        : `A master (brokerRole "${role}") has brokerId 0, got ${brokerId}: set brokerRole to "SLAVE" for a slave`,
    );
  }
  if (role === "SLAVE" && options.haMasterAddress === undefined && (options.nameServers ?? []).length === 0) {
    throw new RangeError(
      "A slave needs its master's replication address: set haMasterAddress (--ha-master-address host:port), " +
        "or NameServers (--namesrv) to learn it from",
    );
  }
  const maxPullBatchSize = options.maxPullBatchSize ?? 1024;
  if (!Number.isSafeInteger(maxPullBatchSize) || maxPullBatchSize < 1 || maxPullBatchSize > 1024) {
    throw new RangeError(`Invalid maxPullBatchSize "${maxPullBatchSize}": expected an integer from 1 to 1024`);
  }
  const holds = new PullHoldService({ maxHeld: options.maxHeldPulls, maxHeldPerConnection: options.maxHeldPullsPerConnection });
  const inFlight = new InFlightLimit(options.maxInFlightPerConnection ?? DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION);
  const perIp = new ConnectionsPerIp({ max: options.maxConnectionsPerIp ?? DEFAULT_MAX_CONNECTIONS_PER_IP, log });
  const guard = options.connectionGuard ?? connectionGuardOf(options, (line) => log(line, "warn"));
  const guarded = new WeakMap<Connection, GuardedConnection>();

  const listenOptions = { hostname, port: options.port ?? 10911, ...(options.tls === undefined ? {} : { tls: options.tls }) };
  const listener: ClientListener = await listenForClients(options.listen, listenOptions, options, (transport) => {
    const ip = accepting ? perIp.admit(transport.remoteAddress) : undefined;
    const limits = guard.open(ip ?? hostOf(transport.remoteAddress));
    const connection = new Connection({
      ...limits.options,
      maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      ...(options.remotingEnabled === false ? {} : { wire: detectProtocol(remotingWire) }),
      onRequest: (request, c) => {
        if (!inFlight.admit(request, c)) return;
        // Admitted here; the tracked processor counts it again while it runs.
        if (dispatch !== undefined) {
          inFlight.leave(c);
          (c.protocol === "remoting" ? remotingDispatch! : dispatch)(request, c);
        } else {
          readyPromise.then(() => {
            inFlight.leave(c);
            (c.protocol === "remoting" ? remotingDispatch! : dispatch!)(request, c);
          });
        }
      },
      onClose: (c, error) => {
        if (ip !== undefined) perIp.release(ip);
        const cut = limits.closed(c.remoteAddress, error);
        if (!connections.delete(c)) return;
        onConnectionClosed(c);
        if (error !== undefined && !cut) log(`Connection ${c.remoteAddress} closed: ${error.message}`, "warn");
      },
    });
    guarded.set(connection, limits);
    connection.attach(transport);
    if (ip === undefined) connection.close();
    else connections.add(connection);
    return connection.handlers;
  });

  const advertisedHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  const address = options.advertisedAddress ?? `${advertisedHost}:${listener.port}`;
  const advertised = parseAddress(address);
  const storeHost: HostAddress = { address: advertised.host, port: advertised.port };

  const configStorage = options.storage ?? new FileSegmentStorage();
  const configDir = join(options.dataDir, "config");
  const topics = new TopicConfigManager(jsonFile(configStorage, join(configDir, STATE_FILES.topics.file), TopicTable), {
    journal: new JsonJournal(join(configDir, TOPICS_JOURNAL_FILE), { storage: configStorage, validate: validator(TopicChange) }),
    autoCreateTopicEnable: options.autoCreateTopicEnable ?? false,
    defaultTopicQueueNums: options.defaultTopicQueueNums,
    ...(options.autoCreateTopicRate === undefined ? {} : { autoCreateTopicRate: options.autoCreateTopicRate }),
    ...(options.maxTopicCount === undefined ? {} : { maxTopicCount: options.maxTopicCount }),
    brokerName: options.brokerName ?? "broker-a",
  });
  let topicsWarning: string | undefined;
  let store: MessageStore;
  try {
    // Topics first: the store applies their retention as it opens.
    topicsWarning = loadState(topics, STATE_FILES.topics, join(configDir, STATE_FILES.topics.file));
    store = await MessageStore.open({
      dataDir: join(options.dataDir, "store"),
      storage: options.storage,
      flushMode: options.flushMode ?? "async",
      flushIntervalMs: options.flushIntervalMs,
      commitLogSegmentSize: options.commitLogSegmentSize,
      consumeQueueEntriesPerFile: options.consumeQueueEntriesPerFile,
      maxMessageSize: options.maxMessageSize,
      fileReservedTimeMs: options.fileReservedTimeHours === undefined ? undefined : options.fileReservedTimeHours * HOUR_MS,
      topicRetentionMs: (topic) => {
        const hours = topics.get(topic)?.retentionHours;
        return hours === undefined ? undefined : hours * HOUR_MS;
      },
      deleteWhen: options.deleteWhen,
      diskHighWaterPercent: options.diskHighWaterPercent,
      diskHardLimitPercent: options.diskHardLimitPercent,
      messageIndexEnable: options.messageIndexEnable,
      maxHashSlotNum: options.maxHashSlotNum,
      maxIndexNum: options.maxIndexNum,
      storeHost,
      ...(options.truncateTo === undefined ? {} : { truncateTo: options.truncateTo }),
      log,
    });
  } catch (error) {
    await listener.close();
    throw error;
  }
  if (store.stats.recovery.truncated !== undefined) {
    // The timer index may point at records that were cut: rebuilt from the timer topic when next a master.
    for (const file of ["checkpoint", "checkpoint.bak"]) configStorage.remove(join(options.dataDir, "store", "timer", file));
  }
  const controlled = options.controlled;
  if (controlled !== undefined && role !== "SLAVE" && controlled.epochs.lastEpoch < controlled.epoch) {
    // Before the first write of the epoch: where it begins is what a returning master truncates by.
    try {
      await controlled.epochs.begin(controlled.epoch, store.stats.commitLogMaxOffset);
    } catch (error) {
      await listener.close();
      await store.close();
      throw error;
    }
  }
  // A fenced master writes nothing of its own either: timer and delayed deliveries, check-backs and POP revives wait.
  const pausedWhile = controlled === undefined || role === "SLAVE" ? {} : { paused: () => controlled.fenced() !== undefined };
  const recovered = describeRecovery(store.stats.recovery);
  log(recovered.summary, "info");
  for (const warning of recovered.warnings) log(`Warning: ${warning}`, "warn");
  const offsets = new ConsumerOffsetManager(jsonFile(configStorage, join(configDir, STATE_FILES.offsets.file), OffsetTable));
  const groups = new SubscriptionGroupManager(jsonFile(configStorage, join(configDir, STATE_FILES.groups.file), SubscriptionGroupTable));
  let schedule: ScheduleMessageService;
  try {
    schedule = new ScheduleMessageService({
      store,
      file: jsonFile(configStorage, join(configDir, STATE_FILES.delayOffsets.file), DelayOffsetTable),
      delayLevels: options.messageDelayLevel,
      persistIntervalMs: options.delayOffsetPersistIntervalMs,
      ...pausedWhile,
      log,
    });
    const warnings = [
      topicsWarning,
      loadState(offsets, STATE_FILES.offsets, join(configDir, STATE_FILES.offsets.file)),
      loadState(schedule, STATE_FILES.delayOffsets, join(configDir, STATE_FILES.delayOffsets.file)),
      loadState(groups, STATE_FILES.groups, join(configDir, STATE_FILES.groups.file)),
    ];
    for (const warning of warnings) if (warning !== undefined) log(`Warning: ${warning}`, "warn");
  } catch (error) {
    await listener.close();
    await store.close();
    throw error;
  }
  const brokerName = options.brokerName ?? "broker-a";
  const secret = options.clusterSecret;
  const secretCredentials = secret === undefined ? undefined : clusterCredentials(secret);
  const stats: BrokerStats = createBrokerStats();
  const dedup = new DedupWindow({ windowMs: options.dedupWindowMs, maxEntries: options.dedupMaxEntries });
  let timers: TimerMessageStore | undefined;
  let recallSigner: RecallSigner;
  try {
    recallSigner = await RecallSigner.load(join(configDir, "recall_key.json"), configStorage, log);
    // A slave never delivers timers: its master does, and the result is replicated. Its timer
    // index is rebuilt from the timer topic if it is ever started as a master.
    if (role !== "SLAVE") {
      timers = await TimerMessageStore.open({
        store,
        dir: join(options.dataDir, "store", "timer"),
        storage: options.storage,
        wheelSlots: options.timerWheelSlots,
        lookaheadMs: options.timerLookaheadMs,
        observeLateness: (ms) => stats.timerLateness.observe(ms),
        ...pausedWhile,
        log,
      });
      const needed = timers;
      store.retentionFloor = () => needed.minOffsetNeeded();
      const restored = dedup.rebuild(store, log);
      if (restored > 0) log(`Dedup window: ${restored} ids restored from the CommitLog`, "info");
    }
  } catch (error) {
    await timers?.close().catch(() => {});
    await listener.close();
    await store.close();
    throw error;
  }
  let replication: Replication;
  let slave: SlaveReplication | undefined;
  try {
    replication = role === "SLAVE"
      ? slave = startSlaveReplication({
        dial: options.haDial ?? options.dial,
        store,
        brokerName,
        brokerId,
        haMasterAddress: options.haMasterAddress,
        ...(controlled === undefined ? {} : { controlledMaster: controlled.masterHaAddress, epochs: controlled.epochs }),
        metadata: {
          replaceTopics: async (configs) => void await topics.replaceAll(configs),
          replaceOffsets: (table) => offsets.replaceAll(table),
          replaceDelayOffsets: (table) => schedule.replaceOffsets(table),
          persist: async () => {
            await offsets.persist();
            await schedule.persist();
          },
          hasTopic: (topic) => topics.get(topic) !== undefined,
        },
        credentials: options.nameServerCredentials,
        haCredentials: () => {
          if (secret !== undefined) return { kind: "secret", secret };
          const account = options.nameServerCredentials?.();
          return account === undefined ? undefined : { kind: "account", ...account };
        },
        reregister: () => void registrar.registerAll(),
        log,
      })
      : await startMasterReplication({
        role,
        listen: options.listen,
        hostname,
        haPort: options.haPort ?? (listener.port === 0 || options.port === 0 ? 0 : listener.port + 1),
        haPortExplicit: options.haPort !== undefined,
        enabled: options.replication ?? true,
        advertisedHost: advertised.host.includes(":") ? `[${advertised.host}]` : advertised.host,
        ...((options.haTls ?? options.tls) === undefined ? {} : { tls: options.haTls ?? options.tls }),
        store,
        brokerName,
        clientAddress: address,
        syncSlaveTimeoutMs: options.syncSlaveTimeoutMs ?? 3000,
        ...(controlled === undefined ? {} : {
          inSync: {
            selfId: controlled.replicaId,
            initial: controlled.isr,
            version: controlled.version,
            alter: (isr: number[]) => controlled.link.alterSyncStateSet(controlled.epoch, isr),
            ...(controlled.maxLagMs === undefined ? {} : { maxLagMs: controlled.maxLagMs }),
          },
        }),
        auth: {
          ...(secret === undefined ? {} : { clusterSecret: secret }),
          ...(options.peerAccountSecret === undefined ? {} : { accountSecret: options.peerAccountSecret }),
        },
        log,
      });
  } catch (error) {
    await listener.close();
    await store.close();
    throw error;
  }
  let transactions: TransactionService | undefined;
  store.onArrive = (topic, queueId, _offset, tagHash) => {
    holds.notify(topic, queueId, tagHash);
    // A slave never delivers delayed messages itself: its master does, and the result is replicated.
    if (topic === SCHEDULE_TOPIC && role !== "SLAVE") schedule.wake(queueId);
    else if (topic === TIMER_TOPIC) timers?.wake();
    else if (topic === TRANSACTION_HALF_TOPIC || topic === TRANSACTION_OP_TOPIC) transactions?.wake();
    replication.notify(topic);
  };
  const locks = new QueueLockManager({ lockExpiryMs: options.lockExpiryMs });
  const consumers = new ConsumerManager({
    clientExpiryMs: options.clientExpiryMs,
    scanIntervalMs: options.clientScanIntervalMs,
    onMemberRemoved: (group, clientId) => locks.releaseClient(group, clientId),
    log,
  });
  const producers = new ProducerManager({ clientExpiryMs: options.clientExpiryMs, scanIntervalMs: options.clientScanIntervalMs, log });
  onConnectionClosed = (c) => {
    consumers.connectionClosed(c);
    locks.connectionClosed(c);
    producers.connectionClosed(c);
  };
  const trace = options.traceTopicEnable === true && role !== "SLAVE"
    ? new BrokerTraceWriter({ store, topics, topic: options.msgTraceTopicName ?? TRACE_TOPIC, storeHost, address, log: (line) => log(line, "warn") })
    : undefined;
  try {
    transactions = await TransactionService.open({
      store,
      producers,
      offsets,
      brokerName,
      storeHost,
      master: role !== "SLAVE",
      transactionTimeoutMs: options.transactionTimeoutMs,
      transactionCheckMax: options.transactionCheckMax,
      transactionCheckIntervalMs: options.transactionCheckIntervalMs,
      transactionCheckMaxPolicy: options.transactionCheckMaxPolicy,
      countCommitted: (topic, bytes) => countIn(stats, topic, 1, bytes),
      resolved: (half, outcome, by, properties) =>
        trace?.endTransaction({ ...half, properties: properties ?? store.lookMessageByOffset(half.commitLogOffset)?.properties }, outcome, by),
      ...(replication.awaitReplica === undefined ? {} : { awaitReplica: replication.awaitReplica }),
      ...pausedWhile,
      log,
    });
  } catch (error) {
    consumers.shutdown();
    producers.shutdown();
    await timers?.close().catch(() => {});
    await replication.close();
    await listener.close();
    await store.close();
    throw error;
  }
  const clusterName = options.clusterName ?? "DefaultCluster";
  let pop: PopService;
  try {
    const key = await popKey(jsonFile(configStorage, join(configDir, POP_KEY_FILE), PopKeyFile), secret);
    if (key.warning !== undefined) log(`Warning: ${key.warning}`, "warn");
    pop = new PopService({
      store,
      topics,
      offsets,
      holds,
      groups,
      brokerName,
      reviveTopic: reviveTopic(clusterName),
      handles: new ReceiptHandles(key.key),
      snapshot: jsonFile(configStorage, join(configDir, POP_STATE_FILE), PopSnapshot),
      ensureTopic: (topic) => ensureGroupTopic(ctx, topic),
      deadLettered: (group, topic, copy, msgId) => {
        countDeadLetter(stats, group, topic);
        trace?.deadLetter(group, deadLetterView(copy.properties, topic), copy.topic, copy.reconsumeTimes, msgId);
      },
      persistIntervalMs: options.offsetPersistIntervalMs,
      ...pausedWhile,
      log,
    });
    // A slave serves no POP: its state is rebuilt from the replicated revive log if it becomes a master.
    if (role !== "SLAVE") for (const warning of pop.open()) log(`Warning: ${warning}`, "warn");
  } catch (error) {
    consumers.shutdown();
    producers.shutdown();
    transactions.close();
    await timers?.close().catch(() => {});
    await replication.close();
    await listener.close();
    await store.close();
    throw error;
  }
  const startedAt = Date.now();
  const traffic = new TrafficWindow(stats, { startedAt });
  const trafficHistory = new TrafficHistory(stats, { startedAt, fineSeconds: options.tpsHistoryFineSeconds, coarseMinutes: options.tpsHistoryMinutes });
  const trafficTimer = setInterval(() => {
    const now = Date.now();
    traffic.sample(now);
    trafficHistory.sample(now);
  }, 1000);
  (trafficTimer as { unref?: () => void }).unref?.();
  const ctx: BrokerContext = {
    clusterName,
    brokerName,
    brokerId,
    advertisedAddress: address,
    storeHost,
    maxMessageSize: options.maxMessageSize ?? 4 * 1024 * 1024,
    maxPropertiesSize: 32767,
    maxPullBatchSize,
    enablePropertyFilter: options.enablePropertyFilter ?? true,
    store,
    topics,
    offsets,
    holds,
    consumers,
    locks,
    producers,
    transactions,
    schedule,
    timers,
    timerMaxDelayMs: options.timerMaxDelayMs ?? 366 * 86_400_000,
    recallSigner,
    dedup,
    groups,
    pop,
    stats,
    traffic,
    trafficHistory,
    connectionGuard: guard,
    startedAt,
    replication,
    ...(trace === undefined ? {} : { trace }),
  };
  await trace?.open();

  const counter: { inFlight: number; idle?: () => void } = { inFlight: 0 };
  const processors: Record<number, Processor<any>> = {
    [RequestCode.SEND_MESSAGE]: withHalfMessages(sendMessageProcessor(ctx), ctx, "v1"),
    [RequestCode.SEND_BATCH_MESSAGE]: sendBatchProcessor(ctx),
    [RequestCode.SEND_MESSAGE_V2]: withHalfMessages(sendMessageProcessor(ctx, "v2"), ctx, "v2"),
    [RequestCode.SEND_BATCH_MESSAGE_V2]: sendBatchProcessor(ctx, "v2"),
    [RequestCode.SEND_BATCH_RECORDS]: sendBatchRecordsProcessor(ctx),
    [RequestCode.PULL_MESSAGE]: pullMessageProcessor(ctx),
    [RequestCode.GET_MAX_OFFSET]: maxOffsetProcessor(ctx),
    [RequestCode.GET_MIN_OFFSET]: minOffsetProcessor(ctx),
    [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP]: searchOffsetProcessor(ctx),
    [RequestCode.QUERY_CONSUMER_OFFSET]: queryConsumerOffsetProcessor(ctx),
    [RequestCode.UPDATE_CONSUMER_OFFSET]: updateConsumerOffsetProcessor(ctx),
    [RequestCode.UPDATE_AND_CREATE_TOPIC]: createTopicProcessor(ctx),
    [RequestCode.DELETE_TOPIC_IN_BROKER]: deleteTopicProcessor(ctx),
    [RequestCode.GET_ALL_TOPIC_CONFIG]: allTopicConfigProcessor(ctx),
    [RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP]: updateGroupProcessor(ctx),
    [RequestCode.VIEW_MESSAGE_BY_ID]: viewMessageProcessor(ctx),
    [RequestCode.QUERY_MESSAGE]: queryMessageProcessor(ctx),
    [RequestCode.GET_BROKER_RUNTIME_INFO]: runtimeInfoProcessor(ctx),
    [RequestCode.HEART_BEAT]: heartbeatProcessor(ctx),
    [RequestCode.UNREGISTER_CLIENT]: unregisterClientProcessor(ctx),
    [RequestCode.GET_CONSUMER_LIST_BY_GROUP]: consumerListProcessor(ctx),
    [RequestCode.CONSUMER_SEND_MSG_BACK]: sendBackProcessor(ctx),
    [RequestCode.LOCK_BATCH_MQ]: lockBatchProcessor(ctx),
    [RequestCode.UNLOCK_BATCH_MQ]: unlockBatchProcessor(ctx),
    [RequestCode.GET_ALL_CONSUMER_OFFSET]: allConsumerOffsetProcessor(ctx),
    [RequestCode.GET_ALL_DELAY_OFFSET]: allDelayOffsetProcessor(ctx),
    [RequestCode.GET_BROKER_EPOCH_CACHE]: epochCacheProcessor(ctx, () => controlled?.epochs.entries ?? []),
    [RequestCode.RECALL_MESSAGE]: recallMessageProcessor(ctx),
    [RequestCode.END_TRANSACTION]: endTransactionProcessor(ctx),
    [RequestCode.SEND_REPLY_MESSAGE]: sendReplyProcessor(ctx),
    [RequestCode.SEND_REPLY_MESSAGE_V2]: sendReplyProcessor(ctx, "v2"),
    [RequestCode.POP_MESSAGE]: popMessageProcessor(ctx),
    [RequestCode.ACK_MESSAGE]: ackMessageProcessor(ctx),
    [RequestCode.BATCH_ACK_MESSAGE]: batchAckMessageProcessor(ctx),
    [RequestCode.CHANGE_MESSAGE_INVISIBLETIME]: changeInvisibleTimeProcessor(ctx),
  };
  // The requests that write: a slave refuses them, a controlled master only while not fenced.
  const writeCodes = [RequestCode.SEND_MESSAGE, RequestCode.SEND_BATCH_MESSAGE, RequestCode.SEND_MESSAGE_V2, RequestCode.SEND_BATCH_MESSAGE_V2, RequestCode.SEND_BATCH_RECORDS,
    RequestCode.CONSUMER_SEND_MSG_BACK, RequestCode.RECALL_MESSAGE, RequestCode.END_TRANSACTION, RequestCode.SEND_REPLY_MESSAGE, RequestCode.SEND_REPLY_MESSAGE_V2,
    RequestCode.POP_MESSAGE, RequestCode.ACK_MESSAGE, RequestCode.BATCH_ACK_MESSAGE, RequestCode.CHANGE_MESSAGE_INVISIBLETIME];
  if (role === "SLAVE") {
    for (const code of writeCodes) {
      processors[code] = readOnlyProcessor(processors[code]!, ctx);
    }
  }
  if (controlled !== undefined && role !== "SLAVE") {
    for (const code of writeCodes) {
      processors[code] = fencedProcessor(processors[code]!, controlled.fenced);
    }
  }
  // Counted while they run: by the dispatcher itself for remoting and native requests, by `tracked` for gRPC's.
  const track = requestTracker(counter, inFlight);
  const countedProcessors: Record<number, Processor<any>> = {};
  for (const code of Object.keys(processors)) countedProcessors[Number(code)] = tracked(processors[Number(code)]!, track);
  const dispatcher = createDispatcher(processors, {
    track,
    onError: (error, request) => log(`Request ${request.code} failed: ${(error as Error)?.stack ?? error}`, "error"),
  });
  // A request that passed the ACL proves its connection's peer: its frames no longer count as unauthenticated.
  dispatch = options.acl === undefined ? dispatcher : options.acl.wrap((request, c) => {
    guarded.get(c)?.trust();
    return dispatcher(request, c);
  });
  remotingDispatch = createRemotingDispatcher(brokerMappings(ctx), dispatch, { unsupported: BROKER_UNSUPPORTED });
  ready();
  if (role !== "SLAVE") {
    schedule.start();
    pop.start();
  }
  timers?.start();
  transactions.start();

  const registrar = new NameServerRegistrar({
    dial: options.dial,
    nameServers: options.nameServers ?? [],
    clusterName: ctx.clusterName,
    brokerName: ctx.brokerName,
    brokerId: ctx.brokerId,
    brokerAddr: address,
    ...(replication.haAddress === undefined ? {} : { haServerAddr: replication.haAddress }),
    ...(controlled === undefined || role === "SLAVE" ? {} : { epoch: controlled.epoch }),
    ...(slave === undefined ? {} : { onRegistered: ({ haServerAddr }: { haServerAddr: string }) => slave.learnMaster(haServerAddr) }),
    topicConfigs: () => topics.all(),
    intervalMs: options.registerIntervalMs,
    credentials: secretCredentials === undefined ? options.nameServerCredentials : () => secretCredentials,
    ...(options.nameServerCredentials === undefined ? {} : { queryCredentials: options.nameServerCredentials }),
    grpcAddr: () => grpcAddress,
    log,
  });

  const persistTimer = setInterval(() => {
    offsets.persist().catch((error) => log(`Cannot save consumer offsets: ${(error as Error).message}`, "error"));
  }, options.offsetPersistIntervalMs ?? 5000);

  let grpc: GrpcServer | undefined;
  /** Plain gRPC's port until its server loads, on the first connection (`grpcLoading`). */
  let grpcPorts: PreboundPorts | undefined;
  let grpcLoading: Promise<void> | undefined;
  let grpcBoundPort: number | undefined;
  let grpcAddress: string | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      await grpcPorts?.release();
      await grpcLoading;
      await grpc?.close();
      await listener.close();
      await replication.close();
      await registrar.stop();
      holds.shutdown();
      if (counter.inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (counter.idle = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, 10_000)),
        ]);
      }
      onConnectionClosed = () => {};
      consumers.shutdown();
      producers.shutdown();
      transactions!.close();
      await schedule.close().catch((error) => log(`Cannot save delay offsets: ${(error as Error).message}`, "error"));
      await timers?.close().catch((error) => log(`Cannot save the timer checkpoint: ${(error as Error).message}`, "error"));
      if (role !== "SLAVE") await pop.close().catch((error) => log(`Cannot save the POP state: ${(error as Error).message}`, "error"));
      clearInterval(persistTimer);
      clearInterval(trafficTimer);
      await trace?.flush();
      await offsets.persist();
      await store.close();
      for (const connection of connections) connection.close();
    })();
    return closing;
  };

  // RocketMQ 5 clients: served before registering, so the registration names the gRPC address.
  const grpcPort = options.grpcEnabled === false ? undefined : options.grpcPort;
  if (grpcPort !== undefined && role !== "SLAVE") {
    if (options.grpcTls === true && options.tls === undefined) {
      await close();
      throw new RangeError("grpcTls needs the broker's TLS certificate and key (tls)");
    }
    const grpcTls = options.tls !== undefined && options.grpcTls !== false;
    // gRPC and protobuf are most of the code a broker loads: loaded once the client port serves.
    const serveGrpc = async (listen: Listen, port: number): Promise<GrpcServer> => {
      const [{ startGrpcServer }, { MessagingService }] = await Promise.all([import("../grpc/grpc_server.ts"), import("../grpc/messaging_service.ts")]);
      const service = new MessagingService({
        ctx,
        processors: countedProcessors,
        grpcAddress: () => grpcAddress!,
        route: (topic) => registrar.route(topic),
        ...(options.acl === undefined ? {} : { acl: options.acl }),
        clientClosed: (c) => onConnectionClosed(c),
        clientExpiryMs: options.clientExpiryMs,
        ...(options.grpcAutoRenew === undefined ? {} : { autoRenew: options.grpcAutoRenew }),
        log,
      });
      try {
        return await startGrpcServer({
          service,
          listen,
          hostname,
          port,
          ...(grpcTls ? { tls: options.tls } : {}),
          maxReceiveMessageLength: ctx.maxMessageSize + 64 * 1024,
          ...(options.grpcKeepaliveMs === undefined ? {} : { keepaliveMs: options.grpcKeepaliveMs }),
          ...(options.grpcIdleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.grpcIdleTimeoutMs }),
          // One IP's gRPC connections count with its remoting ones (maxConnectionsPerIp), and their
          // incomplete request messages with its incomplete frames (maxPendingFrameBytes…).
          admit: (remoteAddress) => {
            const ip = perIp.admit(remoteAddress);
            if (ip === undefined) return undefined;
            const limits = guard.open(ip);
            return {
              budget: limits.options.frameBudget,
              closed: () => {
                perIp.release(ip);
                limits.closed(remoteAddress, undefined);
              },
            };
          },
          log,
        });
      } catch (error) {
        await service.close();
        throw error;
      }
    };
    try {
      if (grpcTls) {
        grpc = await serveGrpc(options.listen, grpcPort);
        grpcBoundPort = grpc.port;
      } else {
        // Plain gRPC: the port listens now and the gRPC server loads on its first connection (which
        // waits for it), so an idle broker holds none of it (6 MiB of its memory).
        let bindError: unknown;
        const ports: PreboundPorts = await prebindPorts(options.listen, [{ hostname, port: grpcPort }], {
          onBindError: (_, error) => (bindError = error),
          onHold: () => {
            grpcLoading ??= serveGrpc(ports.listen, grpcBoundPort!).then(
              (server) => {
                grpc = server;
              },
              (error) => {
                log(`Cannot serve gRPC on ${hostname}:${grpcBoundPort}: ${(error as Error).message}`, "error");
                return ports.release();
              },
            );
          },
        });
        if (ports.bound.length === 0) throw bindError;
        grpcPorts = ports;
        grpcBoundPort = ports.bound[0]!.port;
      }
    } catch (error) {
      await close();
      const reason = listenFailure(error) ?? (error as Error).message;
      throw new Error(`Cannot serve gRPC on ${hostname}:${grpcPort}: ${reason}; pick another port with --grpc-port or broker.grpcPort, or stop what holds it`, { cause: error });
    }
    grpcAddress = `${advertised.host.includes(":") ? `[${advertised.host}]` : advertised.host}:${grpcBoundPort}`;
    log(`RocketMQ 5 clients served over gRPC${grpcTls ? " (TLS)" : ""} on port ${grpcBoundPort} of ${hostname}, advertised as ${grpcAddress}`, "info");
  } else if (grpcPort !== undefined) {
    log("gRPC is not served by a slave: RocketMQ 5 clients use the master", "warn");
  }
  topics.onChange = () => registrar.scheduleRegister();
  await registrar.start();
  replication.start();

  log(
    `Broker "${ctx.brokerName}" (cluster "${ctx.clusterName}", id ${ctx.brokerId}, ${role}, flush ${options.flushMode ?? "async"}) ` +
      `listening on ${hostname}:${listener.port}${listener.webSocket === undefined ? "" : ` (WebSocket on port ${listener.webSocket.port})`}, advertised as ${address}`,
    "info",
  );
  return {
    address,
    port: listener.port,
    webSocketPort: listener.webSocket?.port,
    options,
    context: ctx,
    connections,
    get grpcAddress() {
      return grpcAddress;
    },
    get grpcPort() {
      return grpcBoundPort;
    },
    close,
  };
}
