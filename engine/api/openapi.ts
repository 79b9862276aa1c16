/**
 * The OpenAPI 3.1 document of the HTTP API, served at `/api/v1/openapi.json`, built from the
 * routes as fastify registers them (its `onRoute` hook), so a route cannot exist without being
 * described. Each route's `schema` carries its summary and the zod schemas its handler parses
 * (`params`, `querystring`, `body`); they are turned into JSON Schema here, as the handler's input.
 *
 * Validation stays in the handlers (zod, with the API's own error answers); fastify is given a
 * validator compiler that passes data through, so these schemas only describe.
 */
import type { FastifySchema } from 'fastify';
import { z } from 'zod';

/** What a route's `schema` holds (fastify ignores the keys it does not know). */
export interface RouteDoc extends FastifySchema {
  summary: string;
  description?: string;
  tags: readonly string[];
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  /** Media type of the request body; default `application/json`. */
  bodyContentType?: string;
  /** Status → what it means (200 included); error statuses answer `{"error":{"code","message"}}`. */
  responses: Readonly<Record<number, string>>;
  /** Served without a token unless `http.auth.openPaths` says otherwise (`/healthz`, `/metrics`). */
  open?: boolean;
}

/** One registered route, as the `onRoute` hook sees it. */
export interface RegisteredRoute {
  method: string | string[];
  url: string;
  schema?: unknown;
}

type Json = Record<string, unknown>;

function jsonSchema(s: z.ZodType): Json {
  const out = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

/** `/api/v1/queues/:id` → `/api/v1/queues/{id}` (OpenAPI path templating). */
export function openApiPath(url: string): string {
  return url.split('/').map((seg) => (seg.startsWith(':') ? `{${seg.slice(1)}}` : seg)).join('/');
}

function isRouteDoc(s: unknown): s is RouteDoc {
  return typeof s === 'object' && s !== null && typeof (s as RouteDoc).summary === 'string' && typeof (s as RouteDoc).responses === 'object';
}

/**
 * Collects the routes of one fastify instance (pass {@link OpenApiCollector.onRoute} to
 * `app.addHook('onRoute', ...)` before any route is added) and renders the document.
 */
export class OpenApiCollector {
  readonly #routes: Array<{ method: string; url: string; doc: RouteDoc }> = [];
  readonly #undocumented: Array<{ method: string; url: string }> = [];

  /** The `onRoute` hook. HEAD routes fastify adds for each GET are the GET's, not listed apart. */
  readonly onRoute = (route: RegisteredRoute): void => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      if (method === 'HEAD') continue;
      if (isRouteDoc(route.schema)) this.#routes.push({ method: method.toLowerCase(), url: route.url, doc: route.schema });
      else this.#undocumented.push({ method: method.toLowerCase(), url: route.url });
    }
  };


  /** The OpenAPI 3.1 document. */
  document(info: { title: string; version: string }): Json {
    const paths: Record<string, Record<string, Json>> = {};
    for (const { method, url, doc } of this.#routes) {
      const parameters: Json[] = [];
      const addParams = (where: 'path' | 'query', s: z.ZodType | undefined): void => {
        if (s === undefined) return;
        const js = jsonSchema(s);
        const props = (js.properties ?? {}) as Record<string, Json>;
        const required = new Set((js.required ?? []) as string[]);
        for (const [name, schema] of Object.entries(props)) {
          const { description, ...rest } = schema;
          parameters.push({
            name, in: where, required: where === 'path' || required.has(name), schema: rest,
            ...(typeof description === 'string' ? { description } : {}),
          });
        }
      };
      addParams('path', doc.params);
      addParams('query', doc.querystring);
      const responses: Record<string, Json> = {};
      for (const [status, description] of Object.entries(doc.responses)) {
        responses[status] = Number(status) >= 400
          ? { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
          : { description };
      }
      const op: Json = {
        summary: doc.summary,
        ...(doc.description !== undefined ? { description: doc.description } : {}),
        tags: [...doc.tags],
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(doc.body !== undefined ? { requestBody: { required: true, content: { [doc.bodyContentType ?? 'application/json']: { schema: jsonSchema(doc.body) } } } } : {}),
        responses,
        ...(doc.open === true ? { security: [] } : {}),
      };
      (paths[openApiPath(url)] ??= {})[method] = op;
    }
    // A route added without a RouteDoc still appears, marked, so that it shows (and a test fails).
    for (const { method, url } of this.#undocumented) {
      (paths[openApiPath(url)] ??= {})[method] = { summary: 'undocumented route', 'x-undocumented': true, responses: { default: { description: 'not described' } } };
    }
    return {
      openapi: '3.1.0',
      info,
      paths,
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token of http.auth.tokens (none needed when the list is empty).' } },
        schemas: {
          Error: {
            type: 'object', required: ['error'],
            properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
      security: [{ bearer: [] }],
    };
  }
}
