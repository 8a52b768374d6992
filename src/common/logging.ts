import { RequestMethod } from '@nestjs/common';
import type { Params } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../config/app-config.js';
import type { Scrubber } from './secrets.js';

const QUIET_PATHS = /^\/(health|metrics|docs)/;

/** JSON logs; auth headers redacted by path and any configured secret scrubbed from every line. */
export function loggerParams(
  config: Pick<AppConfig, 'logLevel'>,
  scrubber: Scrubber,
  stream?: DestinationStream,
): Params {
  const scrub = (line: string): string => scrubber.scrub(line);
  const options = {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers.cookie',
        'req.query.api_key',
      ],
      censor: '[REDACTED]',
    },
    autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.test(req.url ?? '') },
    customProps: () => ({ service: 'bastion' }),
    // Method, path and status are what an operator needs; headers carry keys and are left out entirely.
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    hooks: {
      streamWrite: (line: string) => scrub(line),
    },
  };
  // Nest 12 on Fastify needs the named wildcard for the request-logging middleware to match every route.
  return {
    pinoHttp: stream ? [options, stream] : options,
    // Above info nothing per request is logged: skip the middleware altogether (it is on the hot path).
    forRoutes: ['fatal', 'error', 'warn', 'silent'].includes(config.logLevel)
      ? []
      : [{ path: '{*splat}', method: RequestMethod.ALL }],
  };
}
