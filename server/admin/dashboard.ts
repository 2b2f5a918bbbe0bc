/**
 * `GET /`: the dashboard, one self-contained page (HTML, CSS and vanilla JS served inline under a
 * per-response CSP nonce, no external assets) that reads the JSON API. Its views route on the
 * URL's hash, so `/` is the only path it needs (see `dashboard/page.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import { dashboardHtml } from "./dashboard/page.ts";
import type { AdminState } from "./_state.ts";

function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/`.
 */
export function dashboardRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const cspNonce = nonce();
    c.header(
      "Content-Security-Policy",
      `default-src 'none'; script-src 'nonce-${cspNonce}'; style-src 'nonce-${cspNonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    const acl = state.options.acl !== undefined;
    return c.html(dashboardHtml({ version: state.options.version, tokenRequired: !acl && state.options.token !== undefined, acl }, cspNonce));
  });
  return app;
}
