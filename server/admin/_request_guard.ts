/**
 * What a browser must not be able to do to the admin API on someone's behalf, checked before
 * anything else:
 * - DNS rebinding: a page on `attacker.example` whose name is made to resolve to this server would
 *   be same-origin with it. Requests are answered only when the Host names this server: an IP
 *   address (which cannot be rebound), `localhost`, the host name it listens on, or the host of a
 *   configured origin. `/healthz` answers any Host (probes use whatever name they have).
 * - Cross-site request forgery: changes (POST, PUT, PATCH, DELETE) are refused when the browser
 *   says they come from another origin (`Origin`, else `Sec-Fetch-Site`); and POST, PUT and PATCH
 *   must be `application/json`, which no form and no `no-cors` fetch can send (the HTTP gateway's
 *   raw produce takes any other type no form or `no-cors` fetch can send either, such as
 *   `application/octet-stream`). Clients that send neither header (curl, `rmq`) are not browsers
 *   and pass.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { httpError } from "./_http.ts";

/** Options of `requestGuard`. */
export interface RequestGuardOptions {
  /** Origins besides the server's own whose pages may make changes (their hosts are answered). */
  allowedOrigins?: readonly string[];
  /** The address the server listens on; a host name there is answered. */
  hostname?: string;
}

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;
/** Paths that take a raw body: the HTTP gateway's single produce. */
const RAW_BODY_PATH = /^\/api\/gateway\/topics\/[^/]+\/messages$/;
/** Content types a form or a `no-cors` fetch may send (CORS-safelisted), refused for raw bodies too. */
const FORM_TYPES = new Set(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""]);

/**
 * The host name of a Host header value (`name:port`, `1.2.3.4:port`, `[::1]:port`), lowercase.
 *
 * @param host The Host header.
 * @returns The name, or undefined when it cannot be read.
 */
export function hostnameOf(host: string): string | undefined {
  const text = host.trim().toLowerCase();
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    return end < 0 ? undefined : text.slice(0, end + 1);
  }
  const colon = text.indexOf(":");
  const name = colon < 0 ? text : text.slice(0, colon);
  return name === "" ? undefined : name;
}

/**
 * Normalises configured origins (`https://mq.example.com/` → `https://mq.example.com`).
 *
 * @param origins Origin URLs.
 * @returns Their origins.
 * @throws {TypeError} When one is not an http or https URL without a path.
 */
export function normalizeOrigins(origins: readonly string[]): string[] {
  return origins.map((text) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new TypeError(`Allowed origin "${text}" is not a URL such as https://mq.example.com`);
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || (url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") {
      throw new TypeError(`Allowed origin "${text}" must be an http or https origin without a path, such as https://mq.example.com`);
    }
    return url.origin;
  });
}

/**
 * The guard, to run before authentication and routing.
 *
 * @param options The extra origins and the listen address.
 * @returns The middleware.
 */
export function requestGuard(options: RequestGuardOptions = {}): MiddlewareHandler {
  const origins = new Set(normalizeOrigins(options.allowedOrigins ?? []));
  const hostnames = new Set(["localhost", ...[...origins].map((o) => new URL(o).hostname)]);
  const listen = options.hostname?.toLowerCase();
  if (listen !== undefined && listen !== "0.0.0.0" && listen !== "::" && listen !== "") hostnames.add(listen.includes(":") ? `[${listen}]` : listen);
  return async (c, next) => {
    c.header("X-Content-Type-Options", "nosniff");
    const url = new URL(c.req.url);
    const host = c.req.header("host") ?? url.host;
    if (c.req.path !== "/healthz") {
      const name = hostnameOf(host);
      if (name === undefined || !(IPV4.test(name) || IPV6.test(name) || hostnames.has(name))) {
        throw httpError(
          421,
          "MISDIRECTED_REQUEST",
          `Host "${host}" is not an address of this admin server: use its IP address or localhost, or add the origin to admin.allowedOrigins`,
        );
      }
    }
    const method = c.req.method;
    if (UNSAFE_METHODS.has(method)) {
      const origin = c.req.header("origin");
      if (origin !== undefined) {
        if (origin !== `${url.protocol}//${host}` && !origins.has(origin)) {
          throw httpError(403, "FORBIDDEN", `Changes are not accepted from pages of origin "${origin}": add it to admin.allowedOrigins to allow them`);
        }
      } else {
        const site = c.req.header("sec-fetch-site");
        if (site !== undefined && site !== "same-origin" && site !== "none") {
          throw httpError(403, "FORBIDDEN", `Changes are not accepted from pages of another origin (Sec-Fetch-Site "${site}")`);
        }
      }
      if (BODY_METHODS.has(method)) {
        const type = c.req.header("content-type") ?? "";
        const essence = type.split(";")[0]!.trim().toLowerCase();
        if (essence !== "application/json" && (FORM_TYPES.has(essence) || !RAW_BODY_PATH.test(c.req.path))) {
          throw httpError(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            RAW_BODY_PATH.test(c.req.path)
              ? `${method} needs Content-Type: application/json, or a raw body of a type forms cannot send such as application/octet-stream${type === "" ? "" : `, not "${type}"`}`
              : `${method} needs a JSON body with Content-Type: application/json${type === "" ? "" : `, not "${type}"`}`,
          );
        }
      }
    }
    await next();
  };
}
