import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { Env } from './config/app-config.js';
import { AppModule, type AppOptions } from './app.module.js';
import { setupDocs } from './docs.js';
import { RequestContext } from './common/request-context.js';

export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Builds the whole application from an environment (process.env in main.ts, a plain object in the tests and
 * the benchmarks alike). Rejects with ConfigValidationError, listing every problem, on a bad environment.
 */
export async function createApp(env: Env, options: AppOptions = {}): Promise<NestFastifyApplication> {
  // Validation runs here, before Nest builds anything: a bad environment is one error, not an aborted boot.
  const module = await AppModule.forRoot(env, options);
  const app = await NestFactory.create<NestFastifyApplication>(
    module,
    new FastifyAdapter({ bodyLimit: BODY_LIMIT_BYTES, trustProxy: true }),
    { bufferLogs: true },
  );
  app.useLogger(app.get(Logger));
  // Each request runs in its own context (who is calling); registered after the body is read, since a
  // context entered earlier does not follow the socket's events that deliver the body.
  const context = app.get(RequestContext);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preHandler', (_req, _reply, done) => context.run(done))
    .addHook('onSend', (_req, reply, payload, done) => {
      const headers = context.headers;
      if (headers) void reply.headers(headers);
      done(null, payload);
    });
  app.enableShutdownHooks();
  setupDocs(app);
  return app;
}
