import { type ArgumentsHost, Catch, type ExceptionFilter, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { errorHeaders } from '../../common/errors.js';
import { scrubbedErrorBody, type ErrorBody } from '../../common/exception.filter.js';
import { Scrubber } from '../../common/secrets.js';

/** OpenAI's error body, so OpenAI SDKs raise their usual errors. */
export function openAiError(body: ErrorBody): { error: Record<string, unknown> } {
  return {
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
  };
}

/** Writes an error on the OpenAI wire; a refused budget is final, so SDKs are told not to retry it. */
export function sendOpenAiError(
  reply: FastifyReply,
  exception: unknown,
  logger: Logger,
  scrubber: Scrubber,
): void {
  const body = scrubbedErrorBody(exception, logger, scrubber);
  void reply.headers(errorHeaders(exception));
  if (body.code === 'budget_exceeded') void reply.header('x-should-retry', 'false');
  void reply.status(body.statusCode).send(openAiError(body));
}

/** The one error filter of the OpenAI-compatible door (`/v1`). */
@Catch()
export class OpenAiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('OpenAiDoor');

  constructor(private readonly scrubber: Scrubber) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    sendOpenAiError(host.switchToHttp().getResponse<FastifyReply>(), exception, this.logger, this.scrubber);
  }
}
