import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { DomainError } from './errors.js';

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

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const body = toErrorBody(exception, this.logger);
    // The OpenAI-compatible door answers in OpenAI's error shape so SDKs parse it.
    if (request.url.startsWith('/v1/')) {
      // A refused budget is final: tell OpenAI SDKs not to retry it.
      if (body.code === 'budget_exceeded') void reply.header('x-should-retry', 'false');
      void reply.status(body.statusCode).send({
        error: {
          message: Array.isArray(body.message) ? body.message.join('; ') : body.message,
          type:
            body.statusCode >= 500
              ? 'server_error'
              : body.statusCode === 429
                ? 'rate_limit_error'
                : 'invalid_request_error',
          param: typeof body.param === 'string' ? body.param : null,
          code: body.code ?? null,
        },
      });
      return;
    }
    void reply.status(body.statusCode).send(body);
  }
}
