import { z } from 'zod';
import {
  ciBuildRequestSchema,
  hostEnrolmentSchema,
  hostKeyRequestSchema,
  profileRequestSchema,
  promoteRequestSchema,
  rollbackRequestSchema,
  rolloutRequestSchema,
  eventStreamQuerySchema,
  tokenRequestSchema,
  webhookRequestSchema,
  type Role,
} from '@lockstep/contracts';
import { idParam, shaParam } from '../common/params';

interface Route {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  summary: string;
  /** Roles the route takes; none for a public route. */
  roles: Role[];
  body?: z.ZodType;
  query?: Record<string, z.ZodType>;
}

const ALL: Role[] = ['admin', 'operator', 'ci', 'viewer'];
const WRITERS: Role[] = ['admin', 'operator'];

/**
 * Every route with the schema its controller validates the request with (the same objects, from
 * libs/contracts), so the document cannot say other than what the API accepts.
 */
export const ROUTES: Route[] = [
  { method: 'get', path: '/health', summary: 'Whether the database and Redis answer', roles: [] },
  {
    method: 'post',
    path: '/tokens',
    summary: 'Make a token (shown once)',
    roles: ['admin'],
    body: tokenRequestSchema,
  },
  { method: 'get', path: '/tokens', summary: 'The tokens, without secrets', roles: ['admin'] },
  { method: 'delete', path: '/tokens/{id}', summary: 'Revoke a token', roles: ['admin'] },
  {
    method: 'post',
    path: '/hosts',
    summary: 'Enrol a host with its printers and MCUs',
    roles: WRITERS,
    body: hostEnrolmentSchema,
  },
  {
    method: 'get',
    path: '/hosts',
    summary: 'The hosts, with their printers and MCUs',
    roles: ALL,
    query: { group: z.string(), tag: z.string() },
  },
  { method: 'get', path: '/hosts/{id}', summary: 'One host', roles: ALL },
  { method: 'delete', path: '/hosts/{id}', summary: 'Remove a host and its printers', roles: ['admin'] },
  {
    method: 'post',
    path: '/hosts/{id}/host-key',
    summary: 'Re-pin the host key (a given key, or the one the host offers now), lifting a block',
    roles: ['admin'],
    body: hostKeyRequestSchema,
  },
  {
    method: 'post',
    path: '/hosts/{id}/discover',
    summary: "Read the host's printers and propose their MCUs, changing nothing",
    roles: WRITERS,
  },
  {
    method: 'get',
    path: '/hosts/{id}/discovery',
    summary: 'The latest discovery: its proposal and how it differs from the inventory',
    roles: ALL,
  },
  { method: 'get', path: '/printers', summary: 'The printers (Klipper instances)', roles: ALL },
  { method: 'get', path: '/printers/{id}', summary: 'One printer', roles: ALL },
  {
    method: 'post',
    path: '/printers/{id}/rollback',
    summary: 'Roll a printer (and its host) back',
    roles: WRITERS,
    body: rollbackRequestSchema,
  },
  {
    method: 'post',
    path: '/rollouts',
    summary: 'Start a rollout, or plan one (dryRun)',
    roles: WRITERS,
    body: rolloutRequestSchema,
  },
  { method: 'get', path: '/rollouts', summary: 'The latest rollouts', roles: ALL },
  { method: 'get', path: '/rollouts/{id}', summary: 'One rollout, per host', roles: ALL },
  { method: 'post', path: '/rollouts/{id}/pause', summary: 'Stop queuing hosts', roles: WRITERS },
  {
    method: 'post',
    path: '/rollouts/{id}/resume',
    summary: 'Go on, accepting the failures so far',
    roles: WRITERS,
  },
  { method: 'post', path: '/rollouts/{id}/retry', summary: 'Run the failed hosts again', roles: WRITERS },
  {
    method: 'post',
    path: '/rollouts/{id}/cancel',
    summary: 'Cancel; running jobs stop between boards',
    roles: WRITERS,
  },
  {
    method: 'post',
    path: '/builds',
    summary: 'Build every MCU profile of the fleet at a ref on the build host (CI)',
    roles: [...WRITERS, 'ci'],
    body: ciBuildRequestSchema,
  },
  { method: 'get', path: '/builds', summary: 'The latest builds', roles: ALL },
  {
    method: 'get',
    path: '/builds/{id}',
    summary: 'One build: per profile its result, version, files (SHA-256, size) and log tail',
    roles: ALL,
  },
  {
    method: 'post',
    path: '/builds/{id}/promote',
    summary: "A rollout of the build's commit that flashes exactly its artifacts",
    roles: WRITERS,
    body: promoteRequestSchema,
  },
  {
    method: 'get',
    path: '/profiles',
    summary: 'MCU profiles, with what each builds and the MCUs built from it',
    roles: ALL,
  },
  { method: 'get', path: '/profiles/{sha}', summary: 'One profile, with its Kconfig', roles: ALL },
  {
    method: 'put',
    path: '/printers/{id}/mcus/{name}/profile',
    summary: 'Give one MCU another Kconfig, checked against its kind',
    roles: WRITERS,
    body: profileRequestSchema,
  },
  {
    method: 'get',
    path: '/printers/{id}/history',
    summary: 'Every version change read back from its MCUs, newest first',
    roles: ALL,
    query: { limit: z.number().int().min(1).max(1000) },
  },
  {
    method: 'get',
    path: '/audit',
    summary: 'Who did what, newest first',
    roles: ['admin'],
    query: { limit: z.number().int().min(1).max(1000) },
  },
  {
    method: 'get',
    path: '/events',
    summary:
      'Server-Sent Events (id, event: its type, data: the event as JSON); with Last-Event-ID or after, every stored event after that id first',
    roles: ALL,
    query: eventStreamQuerySchema.shape,
  },
  {
    method: 'post',
    path: '/webhooks',
    summary: 'Tell an http(s) URL (Slack, Discord or other) of rollout and printer events',
    roles: ['admin'],
    body: webhookRequestSchema,
  },
  {
    method: 'get',
    path: '/webhooks',
    summary: 'The webhooks, their URLs cut to scheme and host',
    roles: ['admin'],
  },
  { method: 'delete', path: '/webhooks/{id}', summary: 'Remove a webhook', roles: ['admin'] },
];

const jsonSchema = (schema: z.ZodType): object => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
};

const ERROR = {
  description: 'refused: `message`, and for a 400 `issues` naming each field',
  content: {
    'application/json': {
      schema: { type: 'object', properties: { message: {}, issues: { type: 'array' } } },
    },
  },
};

/** The OpenAPI 3.1 document of the API. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const parameters = [
      ...[...route.path.matchAll(/\{(\w+)\}/g)].map(([, name]) => ({
        name,
        in: 'path',
        required: true,
        schema: jsonSchema(name === 'sha' ? shaParam : idParam),
      })),
      ...Object.entries(route.query ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema: jsonSchema(schema),
      })),
    ];
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      description: route.roles.length === 0 ? 'No token needed.' : `Roles: ${route.roles.join(', ')}.`,
      ...(route.roles.length === 0 ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body) } },
            },
          }
        : {}),
      responses: {
        '200': { description: 'done' },
        '400': ERROR,
        '401': ERROR,
        '403': ERROR,
        '404': ERROR,
        '409': ERROR,
        '413': ERROR,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Lockstep',
      version: '0.1.0',
      description: 'Fleet-wide Klipper upgrades with a version gate.',
    },
    components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
    security: [{ token: [] }],
    paths,
  };
}
