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
import type { Caller } from './caller.js';
import { RequestContext } from './request-context.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ConfigType } from '@nestjs/config';
import { authConfig } from '../config/namespaces.js';

const PUBLIC = 'bastion:public';
const ADMIN = 'bastion:admin';

/** Open route: health, metrics, docs. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);
/** Route that changes configuration: needs a key from ADMIN_API_KEYS. */
export const AdminOnly = (): MethodDecorator & ClassDecorator => SetMetadata(ADMIN, true);

export type AuthedRequest = FastifyRequest & { caller?: Caller };

export function presentedKey(headers: FastifyRequest['headers']): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

interface KnownKey {
  digest: Buffer;
  caller: Caller;
}

/**
 * The caller a key belongs to, compared in constant time whatever the key's length: every known key's digest
 * is compared with the presented key's digest (fixed length), with no early exit.
 */
function identify(candidate: string, known: KnownKey[]): Caller | undefined {
  const presented = digest(candidate);
  let found: Caller | undefined;
  for (const k of known) {
    if (timingSafeEqual(presented, k.digest) && found === undefined) found = k.caller;
  }
  return found;
}

@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly open: boolean;
  private readonly known: KnownKey[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(authConfig.KEY) private readonly config: ConfigType<typeof authConfig>,
    private readonly context: RequestContext,
  ) {
    this.open = config.apiKeys.length + config.adminApiKeys.length === 0;
    this.known = [
      ...config.adminApiKeys.map((k, i) => ({
        digest: digest(k.key),
        caller: { scope: `admin${i}`, tenant: k.tenant, admin: true },
      })),
      ...config.apiKeys.map((k, i) => ({
        digest: digest(k.key),
        caller: { scope: `key${i}`, tenant: k.tenant, admin: false },
      })),
    ];
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
      request.caller = { scope: 'open', tenant: 'default', admin: true };
      this.context.setCaller(request.caller);
      return true;
    }
    const key = presentedKey(request.headers);
    if (key === undefined) {
      throw new UnauthorizedException(
        'Missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
      );
    }
    const caller = identify(key, this.known);
    if (!caller) throw new UnauthorizedException('Invalid API key');
    if (needsAdmin && !caller.admin) throw new ForbiddenException('This route needs an admin API key');
    request.caller = caller;
    this.context.setCaller(caller);
    return true;
  }
}
