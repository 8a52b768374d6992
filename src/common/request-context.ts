import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable } from '@nestjs/common';
import type { Caller } from './caller.js';
import { DEFAULT_TENANT } from './tenant.js';

interface RequestScope {
  caller?: Caller;
  /** Headers the answer carries whatever door it leaves by (a managed key's rate-limit state). */
  headers?: Record<string, string>;
}

/**
 * Who is calling, for the rest of the request: set by the auth guard, read by whatever decides what a caller may
 * receive (the gateway's cache and last answers are per tenant). An agent deep in a request needs no caller
 * parameter threaded through every service between the controller and the gateway.
 */
@Injectable()
export class RequestContext {
  private readonly storage = new AsyncLocalStorage<RequestScope>();

  /** Runs the rest of a request inside its own scope (a Fastify hook, once the body is read). */
  run(next: () => void): void {
    this.storage.run({}, next);
  }

  setCaller(caller: Caller): void {
    const scope = this.storage.getStore();
    if (scope) scope.caller = caller;
  }

  /** Adds headers to this request's answer (sent by the Fastify onSend hook of app.factory.ts). */
  addHeaders(headers: Record<string, string>): void {
    const scope = this.storage.getStore();
    if (scope) scope.headers = { ...scope.headers, ...headers };
  }

  get headers(): Record<string, string> | undefined {
    return this.storage.getStore()?.headers;
  }

  get caller(): Caller | undefined {
    return this.storage.getStore()?.caller;
  }

  /** The caller's tenant; internal work (batch flushes, scheduled jobs) runs as the default tenant. */
  get tenant(): string {
    return this.caller?.tenant ?? DEFAULT_TENANT;
  }
}
