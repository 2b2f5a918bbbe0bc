/**
 * HTTP/2 frames as the gRPC tests read them: what a server sent, cut into frames, and byte arrays
 * joined.
 */

/** One frame. */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** The whole frames in the bytes, in order (a partial last one is left out). */
export function parseFrames(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    const length = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at);
    frames.push({ type: bytes[at + 3]!, flags: bytes[at + 4]!, stream: view.getUint32(5) & 0x7fffffff, payload: bytes.slice(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

/** The parts joined into one array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
