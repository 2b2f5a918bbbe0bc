/**
 * The HTTP gateway's routes, each declared once with the valibot schemas of its path, query,
 * headers, body and answers: `defineRoutes` mounts them on Hono (validating path and query with
 * those schemas before the handler runs), and `openApiDocument` turns the same declarations into
 * an OpenAPI 3 document (`@valibot/to-json-schema`), so the document cannot drift from the routes.
 *
 * @module
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import type { Context } from "hono";
import { Hono } from "hono";
import * as v from "valibot";
import { validate } from "../_http.ts";

/** A schema of an object (path, query, headers). */
export type ObjectSchema = v.ObjectSchema<v.ObjectEntries, v.ErrorMessage<v.ObjectIssue> | undefined>;

/** One answer a route may give. */
export interface ResponseSpec {
  description: string;
  /** The JSON body's schema; with `contentType` other than JSON, none. */
  schema?: v.GenericSchema;
  /** @default "application/json" */
  contentType?: string;
}

/** One route of the gateway, as mounted and as documented. */
export interface RouteSpec<P extends ObjectSchema | undefined = ObjectSchema | undefined, Q extends ObjectSchema | undefined = ObjectSchema | undefined> {
  method: "get" | "post";
  /** OpenAPI style, relative to the gateway: `/topics/{topic}/messages`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  params?: P;
  query?: Q;
  /** Request headers the route reads (documented; the handler validates them). */
  headers?: ObjectSchema;
  /** The JSON body's schema, and whether another content type is taken raw. */
  body?: { json?: v.GenericSchema; raw?: string };
  responses: Record<number, ResponseSpec>;
}

/** What a handler is given: the context and the path and query already validated. */
export interface RouteInput<P, Q> {
  c: Context;
  params: P;
  query: Q;
}

type Out<S> = S extends v.GenericSchema ? v.InferOutput<S> : Record<string, never>;

/** A declared route and its handler. */
export interface GatewayRoute {
  spec: RouteSpec;
  handle(c: Context): Response | Promise<Response>;
}

/**
 * Declares a route with its handler.
 *
 * @param spec The route's method, path, schemas and answers.
 * @param handler Answers the request, given its validated path and query.
 * @returns The route, for `defineRoutes` and `openApiDocument`.
 */
export function route<P extends ObjectSchema | undefined, Q extends ObjectSchema | undefined>(
  spec: RouteSpec<P, Q>,
  handler: (input: RouteInput<Out<P>, Out<Q>>) => Response | Promise<Response>,
): GatewayRoute {
  return {
    spec,
    handle: (c) => {
      const params = (spec.params === undefined ? {} : validate(spec.params, c.req.param(), "path")) as Out<P>;
      const query = (spec.query === undefined ? {} : validate(spec.query, c.req.query(), "query")) as Out<Q>;
      return handler({ c, params, query });
    },
  };
}

/**
 * Mounts routes on a new Hono app.
 *
 * @param routes The routes.
 * @returns The app (mount it at the gateway's prefix).
 */
export function defineRoutes(routes: readonly GatewayRoute[]): Hono {
  const app = new Hono();
  for (const r of routes) app.on(r.spec.method.toUpperCase(), honoPath(r.spec.path), (c) => r.handle(c));
  return app;
}

/**
 * @param path An OpenAPI path (`/groups/{group}`).
 * @returns The Hono path (`/groups/:group`).
 */
export function honoPath(path: string): string {
  return path.replace(/\{([^}]+)\}/g, ":$1");
}

/** Converts a schema as its input is written (before transforms), ignoring checks JSON Schema cannot say. */
function jsonSchema(schema: v.GenericSchema): Record<string, unknown> {
  return toJsonSchema(schema, { target: "openapi-3.0", typeMode: "input", errorMode: "ignore" }) as Record<string, unknown>;
}

/** The parameters of one object schema (path, query or header). */
function parameters(schema: ObjectSchema | undefined, where: "path" | "query" | "header"): unknown[] {
  if (schema === undefined) return [];
  const object = jsonSchema(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === "path" || (object.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

/** Options of `openApiDocument`. */
export interface OpenApiOptions {
  /** The prefix the routes are mounted at, e.g. `/api/gateway`. */
  prefix: string;
  title: string;
  version: string;
  description?: string;
}

/**
 * The OpenAPI 3.0 document of routes.
 *
 * @param routes The routes.
 * @param options Prefix, title and version.
 * @returns The document, ready for `JSON.stringify`.
 */
export function openApiDocument(routes: readonly GatewayRoute[], options: OpenApiOptions): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { spec } of routes) {
    const requestBody: Record<string, unknown> = {};
    if (spec.body?.json !== undefined) requestBody["application/json"] = { schema: jsonSchema(spec.body.json) };
    if (spec.body?.raw !== undefined) requestBody["application/octet-stream"] = { schema: { type: "string", format: "binary", description: spec.body.raw } };
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(spec.responses)) {
      const type = response.contentType ?? "application/json";
      responses[status] = {
        description: response.description,
        ...(response.schema === undefined && type === "application/json" ? {} : { content: { [type]: response.schema === undefined ? {} : { schema: jsonSchema(response.schema) } } }),
      };
    }
    (paths[`${options.prefix}${spec.path}`] ??= {})[spec.method] = {
      operationId: spec.operationId,
      summary: spec.summary,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      parameters: [...parameters(spec.params, "path"), ...parameters(spec.query, "query"), ...parameters(spec.headers, "header")],
      ...(Object.keys(requestBody).length === 0 ? {} : { requestBody: { required: true, content: requestBody } }),
      responses,
    };
  }
  return {
    openapi: "3.0.3",
    info: { title: options.title, version: options.version, ...(options.description === undefined ? {} : { description: options.description }) },
    paths,
    components: {
      securitySchemes: {
        basic: { type: "http", scheme: "basic", description: "ACL on: an account's access key and secret key" },
        bearer: { type: "http", scheme: "bearer", description: "ACL off: the admin token, when one is set" },
      },
    },
    security: [{}, { basic: [] }, { bearer: [] }],
  };
}
