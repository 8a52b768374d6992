import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { DomainError, errorHeaders } from './errors.js';
import { Scrubber } from './secrets.js';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
  code?: string;
  error_id?: string;
  [extra: string]: unknown;
}

/**
 * Turns any thrown value into the error body every route answers with: `{statusCode, error, message}`, plus a
 * stable `code` (and its details) for a DomainError, and an `error_id` to quote for an unexpected 500.
 */
export function toErrorBody(exception: unknown, logger: Logger): ErrorBody {
  if (exception instanceof DomainError) {
    return {
      statusCode: exception.status,
      error: STATUS_CODES[exception.status] ?? 'Error',
      message: exception.message,
      code: exception.code,
      ...exception.details,
    };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    if (typeof response === 'object' && response !== null && 'details' in response && 'status' in response) {
      // A terminus health report: its body is the contract of /health/*, keep it whole.
      return {
        statusCode: status,
        error: STATUS_CODES[status] ?? 'Error',
        message: 'Service not ready',
        ...response,
      };
    }
    const message =
      typeof response === 'object' && response !== null && 'message' in response
        ? (response as { message: string | string[] }).message
        : exception.message;
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message };
  }
  // Fastify's own errors (body too large, bad JSON, wrong content type) carry a 4xx statusCode.
  const fastifyStatus = (exception as { statusCode?: unknown }).statusCode;
  if (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500) {
    return {
      statusCode: fastifyStatus,
      error: STATUS_CODES[fastifyStatus] ?? 'Error',
      message: (exception as Error).message,
    };
  }
  const errorId = randomUUID();
  logger.error({ err: exception, error_id: errorId }, 'Unhandled error');
  return {
    statusCode: 500,
    error: 'Internal Server Error',
    message: `Unexpected error; quote error_id ${errorId} when reporting it`,
    error_id: errorId,
  };
}

/** An error body with every secret and credential-shaped value removed, wherever it sits (messages, details). */
export function scrubbedErrorBody(exception: unknown, logger: Logger, scrubber: Scrubber): ErrorBody {
  return JSON.parse(scrubber.scrub(JSON.stringify(toErrorBody(exception, logger)))) as ErrorBody;
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(private readonly scrubber: Scrubber) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const body = scrubbedErrorBody(exception, this.logger, this.scrubber);
    void reply.headers(errorHeaders(exception)).status(body.statusCode).send(body);
  }
}
