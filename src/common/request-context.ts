import type { Caller } from './caller.js';

/**
 * One HTTP request as the layers below its controller see it: who is calling (set by the auth guard) and the
 * headers its answer must carry whatever door it leaves by (a managed key's rate-limit state, sent by the
 * onSend hook of app.factory.ts). The Fastify request itself is the scope; controllers hand it down
 * explicitly (GatewayRequest.scope) rather than through AsyncLocalStorage, whose promise hooks cost about a
 * fifth of a cache hit on Node 20. Work without a request (batch flushes, scheduled jobs, the whale stream)
 * has no scope and runs as the default tenant.
 */
export interface RequestScope {
  caller?: Caller;
  replyHeaders?: Record<string, string>;
}

/** Adds headers to the answer of the request `scope` belongs to (nothing without a request). */
export function addReplyHeaders(scope: RequestScope | undefined, headers: Record<string, string>): void {
  if (scope) scope.replyHeaders = { ...scope.replyHeaders, ...headers };
}
