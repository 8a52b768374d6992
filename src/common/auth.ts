import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { APP_CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/app-config.js';

const PUBLIC = 'bastion:public';
const ADMIN = 'bastion:admin';

/** Open route: health, metrics, docs. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);
/** Route that changes configuration: needs a key from ADMIN_API_KEYS. */
export const AdminOnly = (): MethodDecorator & ClassDecorator => SetMetadata(ADMIN, true);

export interface Caller {
  /** A short, non-secret identity of the key (used to scope caches per tenant). */
  scope: string;
  admin: boolean;
}

export type AuthedRequest = FastifyRequest & { caller?: Caller };

export function presentedKey(headers: FastifyRequest['headers']): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}

function matches(candidate: string, keys: string[]): number {
  const a = Buffer.from(candidate);
  return keys.findIndex((k) => {
    const b = Buffer.from(k);
    return a.length === b.length && timingSafeEqual(a, b);
  });
}

@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly open: boolean;

  constructor(
    private readonly reflector: Reflector,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.open = config.apiKeys.length + config.adminApiKeys.length === 0;
    if (this.open) {
      new Logger('Auth').warn(
        '!!! No API_KEYS or ADMIN_API_KEYS configured: the API is OPEN to anyone who can reach it. ' +
          'Set keys before exposing Bastion (production refuses to start without them).',
      );
    }
  }

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const needsAdmin = this.reflector.getAllAndOverride<boolean>(ADMIN, targets) ?? false;
    if (this.open) {
      request.caller = { scope: 'open', admin: true };
      return true;
    }
    const key = presentedKey(request.headers);
    if (key === undefined) {
      throw new UnauthorizedException(
        'Missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
      );
    }
    const adminIndex = matches(key, this.config.adminApiKeys);
    const botIndex = adminIndex >= 0 ? -1 : matches(key, this.config.apiKeys);
    if (adminIndex < 0 && botIndex < 0) throw new UnauthorizedException('Invalid API key');
    if (needsAdmin && adminIndex < 0) throw new ForbiddenException('This route needs an admin API key');
    request.caller =
      adminIndex >= 0
        ? { scope: `admin${adminIndex}`, admin: true }
        : { scope: `key${botIndex}`, admin: false };
    return true;
  }
}
