import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Logger } from 'nestjs-pino';
import type { Env } from './config/app-config.js';
import { AppModule, type AppOptions } from './app.module.js';
import { setupDocs } from './docs.js';
import type { RequestScope } from './common/request-context.js';
import { JsonBodyError, parseJsonBody } from './common/json-body.js';

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
  acceptJsonOnly(app);
  app.useLogger(app.get(Logger));
  // Headers the layers below a controller added to the request's scope (a managed key's rate-limit state).
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onSend', (req, reply, payload, done) => {
      const headers = (req as RequestScope).replyHeaders;
      if (headers) void reply.headers(headers);
      done(null, payload);
    });
  app.enableShutdownHooks();
  setupDocs(app);
  return app;
}

/**
 * Bodies are JSON, parsed within the limits of parseJsonBody (depth, array and object sizes, reserved keys)
 * before any route sees them. Any other content type is a 415 naming what to send: Fastify's own text/plain
 * parser would hand a string to routes that expect an object. Registered through Nest's useBodyParser, so
 * Nest's default JSON and form parsers stay out.
 */
function acceptJsonOnly(app: NestFastifyApplication): void {
  app.getHttpAdapter().getInstance().removeContentTypeParser('text/plain');
  app.useBodyParser('application/json', { bodyLimit: BODY_LIMIT_BYTES }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body.toString('utf8')));
    } catch (err) {
      done(err as JsonBodyError, undefined);
    }
  });
  app.useBodyParser('*', { bodyLimit: BODY_LIMIT_BYTES }, (req, _body, done) => {
    const type = req.headers['content-type'];
    done(
      new JsonBodyError(
        `Content-Type ${type ? `"${type.slice(0, 100)}"` : '(none)'} is not accepted: send the body as JSON ` +
          'with Content-Type: application/json',
        415,
      ),
      undefined,
    );
  });
}
