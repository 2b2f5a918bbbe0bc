/**
 * Every error class of rocketmq-ts. Codec code throws built-ins (`RangeError`, `TypeError`);
 * the classes here are for conditions callers catch.
 *
 * @module
 */

/** A peer sent bytes that do not form a valid frame or command; the connection is closed. */
export class ProtocolError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was wrong with the input.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/** The connection closed before a request was answered. */
export class ConnectionClosedError extends Error {
  /**
   * Creates the error.
   *
   * @param message Which connection closed and why.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/** A request was not answered within its timeout. */
export class RequestTimeoutError extends Error {
  /**
   * Creates the error.
   *
   * @param message Which request timed out.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RequestTimeoutError";
  }
}

/** A server answered with an error response code. */
export class BrokerError extends Error {
  /** The response code (see `ResponseCode`). */
  readonly code: number;
  /** The server's remark, meant for people. */
  readonly remark: string;
  /**
   * Creates the error from a response.
   *
   * @param code The response code.
   * @param remark The server's explanation.
   * @param options The underlying cause.
   */
  constructor(code: number, remark: string, options?: ErrorOptions) {
    super(`${remark} (code ${code})`, options);
    this.name = "BrokerError";
    this.code = code;
    this.remark = remark;
  }
}

/** A client-side argument or state error: bad topic name, producer not started, etc. */
export class ClientError extends Error {
  /**
   * Creates the error.
   *
   * @param message What the caller must change.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ClientError";
  }
}

/**
 * A pulled message whose stored bytes fail their check (body CRC, or a layout that does not add
 * up): corrupted on the broker's disk or on the way. It is not delivered; consumers report it
 * and count it (`PullResult.corrupt`, the push consumer's log and queue stats) and go on after it.
 */
export class CorruptMessageError extends Error {
  /** Topic of the queue pulled. */
  readonly topic: string;
  /** Broker group of the queue pulled. */
  readonly brokerName: string;
  /** Queue id of the queue pulled. */
  readonly queueId: number;
  /** The record's queue offset, as stored (-1 when unreadable). */
  readonly queueOffset: number;
  /** The record's CommitLog offset, as stored (-1 when unreadable). */
  readonly commitLogOffset: number;

  /**
   * Creates the error.
   *
   * @param record Where the record was and what is wrong with it.
   */
  constructor(record: {
    topic: string;
    brokerName: string;
    queueId: number;
    queueOffset: number;
    commitLogOffset: number;
    reason: string;
  }) {
    super(
      `Message at queue offset ${record.queueOffset} of queue ${record.queueId} of topic "${record.topic}" on broker "${record.brokerName}" ` +
        `(CommitLog offset ${record.commitLogOffset}) is corrupt and was not delivered: ${record.reason}`,
    );
    this.name = "CorruptMessageError";
    this.topic = record.topic;
    this.brokerName = record.brokerName;
    this.queueId = record.queueId;
    this.queueOffset = record.queueOffset;
    this.commitLogOffset = record.commitLogOffset;
  }
}

/**
 * A peer went past a server's limit before it was trusted (buffer of incomplete frames, time to
 * send a frame); its connection is cut.
 */
export class LimitExceededError extends Error {
  /** The limit's name as configured, e.g. `maxPendingFrameBytesPerIp`. */
  readonly limit: string;
  /**
   * Creates the error.
   *
   * @param limit The limit's name.
   * @param message What the peer did and the limit it went past.
   * @param options The underlying cause.
   */
  constructor(limit: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LimitExceededError";
    this.limit = limit;
  }
}

/**
 * A SQL92 filter expression that cannot be compiled: a syntax error, a comparison that can never
 * be made (`'abc' > 1`), a literal out of range, or an expression too long or nested too deeply.
 * The message names the place: `Invalid SQL filter at column 14: expected a value after ">"`.
 */
export class FilterExpressionError extends SyntaxError {
  /** 1-based column (within its line) of the place the error names, or 0 when it concerns the whole text. */
  readonly column: number;
  /** 1-based line of that place (1 for a one-line expression). */
  readonly line: number;

  /**
   * Creates the error.
   *
   * @param detail What is wrong, e.g. `expected a value after ">"`.
   * @param place Where: the 1-based line and column, or undefined for the whole text.
   */
  constructor(detail: string, place?: { line: number; column: number }) {
    const where = place === undefined ? "" : place.line > 1 ? ` at line ${place.line}, column ${place.column}` : ` at column ${place.column}`;
    super(`Invalid SQL filter${where}: ${detail}`);
    this.name = "FilterExpressionError";
    this.line = place?.line ?? 0;
    this.column = place?.column ?? 0;
  }
}
