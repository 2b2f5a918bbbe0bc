/**
 * IP address text ⇄ bytes, for hosts stored in records and message ids.
 *
 * @module
 */

const CACHE_LIMIT = 1024;
const cache = new Map<string, Uint8Array>();

/**
 * Parses dotted IPv4 or IPv6 text (with `::` and an embedded IPv4 tail) into 4 or 16 bytes.
 * Results are cached; callers must not modify the returned array.
 *
 * @param address The address text; IPv6 may be wrapped in brackets or carry a `%zone`.
 * @returns 4 bytes for IPv4, 16 for IPv6.
 */
export function parseIp(address: string): Uint8Array {
  const hit = cache.get(address);
  if (hit) return hit;
  const bytes = address.includes(":") ? parseIpv6(address) : parseIpv4(address);
  if (!bytes) throw new TypeError(`Cannot parse IP address "${address}"`);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(address, bytes);
  return bytes;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes[i] = n;
  }
  return bytes;
}

function parseIpv6(input: string): Uint8Array | undefined {
  let text = input.startsWith("[") && input.endsWith("]") ? input.slice(1, -1) : input;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const words: number[] = [];
  const groups = [head, tail];
  const parsed: number[][] = [[], []];
  for (let g = 0; g < 2; g++) {
    const list = groups[g]!;
    for (let i = 0; i < list.length; i++) {
      const part = list[i]!;
      const isLast = g === (halves.length === 2 ? 1 : 0) && i === list.length - 1;
      if (isLast && part.includes(".")) {
        const v4 = parseIpv4(part);
        if (!v4) return undefined;
        parsed[g]!.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return undefined;
      parsed[g]!.push(parseInt(part, 16));
    }
  }
  const count = parsed[0]!.length + parsed[1]!.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  words.push(...parsed[0]!);
  for (let i = count; i < 8; i++) words.push(0);
  words.push(...parsed[1]!);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    bytes[i * 2] = words[i]! >>> 8;
    bytes[i * 2 + 1] = words[i]! & 0xff;
  }
  return bytes;
}

/**
 * Formats 4 or 16 address bytes as dotted IPv4 or RFC 5952 IPv6 text.
 *
 * @param bytes The array holding the address.
 * @param pos Where the address starts.
 * @param length 4 or 16.
 * @returns The address text.
 */
export function formatIp(bytes: Uint8Array, pos: number, length: 4 | 16): string {
  if (length === 4) return `${bytes[pos]}.${bytes[pos + 1]}.${bytes[pos + 2]}.${bytes[pos + 3]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[pos + i * 2]! << 8) | bytes[pos + i * 2 + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}
