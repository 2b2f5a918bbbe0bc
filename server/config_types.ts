/**
 * The shape of a loaded configuration, generated from `SETTINGS` in server/config.ts by
 * `npm run gen:config`: do not edit it by hand. (Written out rather than inferred, so the package's
 * public API has explicit types; config.ts checks that it matches `SETTINGS`.)
 *
 * @module
 */

/** A validated configuration with every default filled in (unset keys are `undefined`). */
export type Config = {
  nameserver: {
    /** Address the NameServer listens on */
    host: string;
    /** Port for brokers and clients; 0 picks a free one */
    port: number;
    /** A broker silent this long is dropped from routes */
    brokerExpiryMs: number;
    /** How often silent brokers are looked for */
    scanIntervalMs: number;
    /** Bytes all unauthenticated connections may hold in incomplete frames (256 MiB); past it the connection needing more is cut */
    maxPendingFrameBytes: number;
    /** Bytes the unauthenticated connections of one IP may hold in incomplete frames (64 MiB); past it the connection needing more is cut */
    maxPendingFrameBytesPerIp: number;
    /** A connection with no whole frame this long after it opened (TLS handshake included) is cut */
    handshakeTimeoutMs: number;
    /** A connection whose frame stays incomplete this long is cut (within twice this) */
    frameReadTimeoutMs: number;
    /** A client connection with no frame this long is cut (a peer gone without closing; RocketMQ's serverChannelMaxIdleTimeSeconds); clients heartbeat every 30 s, and reconnect when they next call; 0: never */
    idleTimeoutMs: number;
    /** Most topics one broker may register; a larger registration is refused (the broker logs why) */
    maxTopicsPerBroker: number;
    /** Also answer RocketMQ 4.x remoting clients (ali-ons, Java, Go) on the port (standalone: broker.remotingEnabled); the first bytes tell the protocol */
    remotingEnabled: boolean;
    /** Beyond loopback, accept broker registrations from anyone when neither ACL nor a cluster secret is set (else: refuse to start) */
    allowOpenRegistration: boolean;
    /** Also accept clients over WebSocket on this port (browsers), with the same ACL, limits and TLS; off when unset */
    webSocketPort: number | undefined;
    /** The URL path WebSocket clients connect to */
    webSocketPath: string;
    /** Origins of the pages that may connect over WebSocket ("*": any, for use with ACL); clients sending no Origin always may */
    webSocketAllowedOrigins: string[];
  };
  broker: {
    /** Address the broker listens on (clients and replication) */
    host: string;
    /** Port for producers and consumers; 0 picks a free one */
    port: number;
    /** host:port clients are told to use; set it in containers and clusters (default: the listen host, 127.0.0.1 for 0.0.0.0, and port) */
    advertisedAddress: string | undefined;
    /** Serve RocketMQ 5's gRPC clients (apache.rocketmq.v2.MessagingService) when broker.grpcPort is set */
    grpcEnabled: boolean;
    /** Port of the gRPC API for RocketMQ 5 clients (the proxy's 8081); a broker serves it only when it is set; 0 picks a free one */
    grpcPort: number | undefined;
    /** Serve gRPC over TLS with tls.cert (default: whenever tls.cert is set); false keeps it plaintext */
    grpcTls: boolean | undefined;
    /** A gRPC connection whose peer sent nothing this long is pinged, and closed when nothing comes for as long again (a client gone without closing); 0: no keepalive */
    grpcKeepaliveMs: number;
    /** A gRPC connection with no call open this long is sent GOAWAY and closed (gRPC servers' max connection idle); clients reconnect when they next call; 0: never */
    grpcIdleTimeoutMs: number;
    /** Invisible time of a RocketMQ 5 push consumer's deliveries, renewed while it consumes (the proxy's defaultInvisibleTimeMills) */
    grpcAutoRenewInvisibleMs: number;
    /** A push consumer's delivery is renewed when it would be visible again within this (renewAheadTimeMillis) */
    grpcAutoRenewAheadMs: number;
    /** How often the deliveries being renewed are looked at (renewSchedulePeriodMillis) */
    grpcAutoRenewPeriodMs: number;
    /** How long after its receive a delivery is renewed at most; then it is left to its invisible time (renewMaxTimeMillis) */
    grpcAutoRenewMaxMs: number;
    /** Failed renewals in a row after which a delivery is left to its invisible time (maxRenewRetryTimes) */
    grpcAutoRenewMaxRetries: number;
    /** Invisible time left to the deliveries of a push consumer that went away (invisibleTimeMillisWhenClear) */
    grpcAutoRenewClearInvisibleMs: number;
    /** NameServers to register with (standalone: its own) */
    nameServers: string[];
    /** Where the CommitLog, queues, topics and offsets live */
    dataDir: string;
    /** Cluster the broker belongs to */
    clusterName: string;
    /** The broker group; masters and slaves of a group share it */
    brokerName: string;
    /** 0 for a master, 1 or more for a slave (must match brokerRole) */
    brokerId: number;
    /** ASYNC_MASTER: a send is answered once stored here; SYNC_MASTER: once a slave holds it too; SLAVE: copies its master */
    brokerRole: "ASYNC_MASTER" | "SYNC_MASTER" | "SLAVE";
    /** Masters: accept slaves on haPort (false: no replication listener; not for SYNC_MASTER) */
    replication: boolean;
    /** Masters: the replication listener's port (default: port + 1; 0 picks a free one); TLS with tls.cert */
    haPort: number | undefined;
    /** Slaves: the master's haPort host:port (default: learned from the NameServers) */
    haMasterAddress: string | undefined;
    /** SYNC_MASTER: how long a send waits for a slave's copy (then FLUSH_SLAVE_TIMEOUT) */
    syncSlaveTimeoutMs: number;
    /** async: fsync every flushIntervalMs; sync: a send is answered after the fsync covering it */
    flushMode: "async" | "sync";
    /** Async flush period */
    flushIntervalMs: number;
    /** Bytes per CommitLog segment file (1 GiB) */
    commitLogSegmentSize: number;
    /** Messages older than this are no longer served (a topic may set its own retentionHours) */
    fileReservedTimeHours: number;
    /** Hours (local time) in which segments past retention are deleted: "04", "01;02;03" or "*" */
    deleteWhen: string;
    /** Above this much of the data disk in use, the oldest segments go even if young */
    diskHighWaterPercent: number;
    /** From this much of the data disk in use, sends are refused (retryable) until space frees */
    diskHardLimitPercent: number;
    /** Index message keys and unique keys for lookups by key at any age (QUERY_MESSAGE, rmq msg query-key|get) */
    messageIndexEnable: boolean;
    /** Hash slots of each key index file (4 bytes each, in memory for the file being written) */
    maxHashSlotNum: number;
    /** Entries of each key index file (20 bytes each on disk: 84 MB files by default) */
    maxIndexNum: number;
    /** Create unknown topics on first send */
    autoCreateTopicEnable: boolean;
    /** Most topics created on first send per second (also the burst); more sends to new topics get SYSTEM_BUSY */
    autoCreateTopicRate: number;
    /** Most topics the broker holds (retry and dead-letter ones count); creating more is refused */
    maxTopicCount: number;
    /** Queues of a topic created on first send (at most) */
    defaultTopicQueueNums: number;
    /** Largest message body in bytes (4 MiB) */
    maxMessageSize: number;
    /** Largest request frame in bytes (8 MiB); a larger length prefix closes the connection */
    maxFrameSize: number;
    /** Requests processed at once per connection; more are answered SYSTEM_BUSY (retryable) at once */
    maxInFlightPerConnection: number;
    /** Open connections from one IP, remoting and gRPC ports together; more are closed on arrival, with a log line */
    maxConnectionsPerIp: number;
    /** Most messages one pull returns; a larger maxMsgNums is cut to it */
    maxPullBatchSize: number;
    /** Long-polling pulls parked at once; past it an empty pull is answered SYSTEM_BUSY and consumers back off (0: no long polling) */
    maxHeldPulls: number;
    /** Long-polling pulls one connection may park at once, so one client cannot take every slot; past it: SYSTEM_BUSY */
    maxHeldPullsPerConnection: number;
    /** Serve SQL92 subscriptions (filters on message properties, evaluated by the broker); false refuses such pulls with SYSTEM_ERROR */
    enablePropertyFilter: boolean;
    /** Bytes all unauthenticated connections may hold in incomplete frames (256 MiB); past it the connection needing more is cut */
    maxPendingFrameBytes: number;
    /** Bytes the unauthenticated connections of one IP may hold in incomplete frames (64 MiB); past it the connection needing more is cut */
    maxPendingFrameBytesPerIp: number;
    /** A connection with no whole frame this long after it opened (TLS handshake included) is cut */
    handshakeTimeoutMs: number;
    /** A connection whose frame stays incomplete this long is cut (within twice this) */
    frameReadTimeoutMs: number;
    /** A client connection with no frame this long is cut (a peer gone without closing; RocketMQ's serverChannelMaxIdleTimeSeconds); clients heartbeat every 30 s, and reconnect when they next call; 0: never */
    idleTimeoutMs: number;
    /** Also answer RocketMQ 4.x remoting clients (ali-ons, Java, Go) on the client port; each connection's first bytes tell its protocol */
    remotingEnabled: boolean;
    /** Also accept clients over WebSocket on this port (browsers), with the same ACL, limits and TLS; off when unset */
    webSocketPort: number | undefined;
    /** The URL path WebSocket clients connect to */
    webSocketPath: string;
    /** Origins of the pages that may connect over WebSocket ("*": any, for use with ACL); clients sending no Origin always may */
    webSocketAllowedOrigins: string[];
    /** Delay of each delay level, level 1 first */
    messageDelayLevel: string;
    /** Timer messages: the longest delay a send may ask for (366 days) */
    timerMaxDelayMs: number;
    /** Timer messages: how long before its second a timer is loaded into memory */
    timerLookaheadMs: number;
    /** Minutes of ten-second TPS points kept per topic for the dashboard's charts (about 3 KiB a busy topic an hour) */
    tpsHistoryMinutes: number;
    /** Seconds of one-second TPS points kept per topic for the dashboard's charts (8 bytes a point) */
    tpsHistoryFineSeconds: number;
    /** Idempotent sends: how long a dedup id is remembered (0: dedup off) */
    dedupWindowMs: number;
    /** Idempotent sends: most dedup ids remembered; past it the oldest are forgotten early */
    dedupMaxEntries: number;
    /** Transactions: a half message still unresolved this long after it was stored is checked back with its producer group */
    transactionTimeoutMs: number;
    /** Transactions: checks of one half message before transactionCheckMaxPolicy resolves it */
    transactionCheckMax: number;
    /** Transactions: time between two checks of one half message */
    transactionCheckIntervalMs: number;
    /** Transactions: what becomes of a half message still unresolved after transactionCheckMax checks (logged either way) */
    transactionCheckMaxPolicy: "rollback" | "commit";
    /** Controller mode: the controllers elect the group's master and replace it when it dies; brokerId then names the replica (1 or more) */
    enableControllerMode: boolean;
    /** Controller mode: the controllers (NameServers running one) to heartbeat to (default: nameServers) */
    controllerAddresses: string[] | undefined;
    /** Controller mode: how often the broker heartbeats to the controllers (keep it under a quarter of the lease) */
    controllerHeartbeatMs: number;
    /** Controller mode: a replica that has not caught up with the master for this long leaves the in-sync set */
    inSyncMaxLagMs: number;
    /** Message trace: create the trace topic and record there the transactions this broker commits or rolls back and the messages it moves to a dead-letter topic (rmq trace) */
    traceTopicEnable: boolean;
    /** Message trace: the topic trace records are stored in (clients set the same with traceTopic) */
    msgTraceTopicName: string;
  };
  controller: {
    /** Run a controller beside the NameServer (automatic failover), its state in the etcd cluster at these URLs (default: no controller) */
    etcdEndpoints: string[] | undefined;
    /** Controller: key prefix in etcd */
    etcdPrefix: string;
    /** Controller: the etcd user to authenticate as when etcd has auth enabled (with etcdPassword) */
    etcdUsername: string | undefined;
    /** Controller: the password of etcdUsername (config file or RMQ_CONTROLLER_ETCD_PASSWORD, never a flag) */
    etcdPassword: string | undefined;
    /** Controller: a broker's lease; a master silent this long is replaced and stops taking writes */
    leaseTtlSeconds: number;
  };
  admin: {
    /** Serve the admin API, metrics and dashboard when admin.port is set */
    enabled: boolean;
    /** Address the admin API binds; expose it with care */
    host: string;
    /** Port of the admin API; broker and nameserver serve it only when it is set */
    port: number | undefined;
    /** When set, changes need "Authorization: Bearer <token>" (superseded by ACL) */
    token: string | undefined;
    /** Origins besides IP addresses and localhost it answers to, and whose pages may make changes (a reverse proxy, a container name) */
    allowedOrigins: string[];
    /** Serve the HTTP gateway (produce and consume over HTTP, docs/HTTP.md) at /api/gateway of the admin API */
    gateway: boolean;
  };
  acl: {
    /** ACL file (docs/SECURITY.md): every request must be signed by an account allowed to make it; re-read on change */
    file: string | undefined;
    /** The account a broker signs its NameServer registrations with (default: the ACL file's first admin) */
    accessKey: string | undefined;
    /** The secret key of accessKey */
    secretKey: string | undefined;
  };
  tls: {
    /** PEM certificate of the client, replication and admin listeners; TLS is off without it */
    cert: string | undefined;
    /** PEM private key of tls.cert */
    key: string | undefined;
    /** PEM CA a broker trusts when dialing TLS NameServers, and a slave its master (default for that: tls.cert) */
    ca: string | undefined;
    /** The broker dials its NameServers over TLS (default: false; standalone: whenever tls.cert is set) */
    nameServers: boolean | undefined;
    /** Masters: mutual TLS on the replication port: a slave must present a certificate this PEM CA signed (slaves present tls.cert) */
    replicationClientCa: string | undefined;
  };
  cluster: {
    /** File with the cluster secret (16+ characters, mode 0600): brokers sign NameServer registrations with it, master and slaves prove it to each other (standalone: <dataDir>/cluster.secret, created on first start) */
    secretFile: string | undefined;
    /** The cluster secret itself, instead of secretFile (docs/SECURITY.md, "Peers") */
    secret: string | undefined;
  };
  log: {
    /** Lines below this level are dropped */
    level: "debug" | "info" | "warn" | "error";
    /** text: time LEVEL [component] line; json: one object a line */
    format: "text" | "json";
  };
};
