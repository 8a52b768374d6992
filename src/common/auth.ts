import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Injectable,
  Logger,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Caller } from './caller.js';
import { KeyDirectory } from './key-directory.js';
import { DEFAULT_TENANT } from './tenant.js';
import type { FastifyRequest } from 'fastify';

const PUBLIC = 'bastion:public';
const ADMIN = 'bastion:admin';

/** Open route: health, metrics, docs. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);
/** Route that changes configuration: needs an admin key (ADMIN_API_KEYS, or a managed key with role admin). */
export const AdminOnly = (): MethodDecorator & ClassDecorator => SetMetadata(ADMIN, true);

export type AuthedRequest = FastifyRequest & { caller?: Caller };

export function presentedKey(headers: FastifyRequest['headers']): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && /^bearer\s+/i.test(auth)) return auth.replace(/^bearer\s+/i, '').trim();
  const apiKey = headers['x-api-key'];
  return typeof apiKey === 'string' && apiKey.length > 0 ? apiKey : undefined;
}

@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly open: boolean;
  /** Per handler: open, admin-only — read once, not on every request. */
  private readonly routes = new WeakMap<object, { public: boolean; admin: boolean }>();

  constructor(
    private readonly reflector: Reflector,
    private readonly keys: KeyDirectory,
  ) {
    this.open = keys.noEnvironmentKeys;
    if (this.open) {
      new Logger('Auth').warn(
        '!!! No API_KEYS or ADMIN_API_KEYS configured: the API is OPEN to anyone who can reach it. ' +
          'Set keys before exposing Bastion (production refuses to start without them).',
      );
    }
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const route = this.route(context);
    if (route.public) return true;
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    if (this.open) {
      request.caller = { scope: 'open', tenant: DEFAULT_TENANT, admin: true, key: null };
      return true;
    }
    const presented = presentedKey(request.headers);
    if (presented === undefined) {
      throw new UnauthorizedException(
        'Missing API key: send "Authorization: Bearer <key>" or "X-API-Key: <key>"',
      );
    }
    const caller = await this.keys.identify(presented);
    if (!caller) throw new UnauthorizedException('Invalid API key');
    if (route.admin && !caller.admin) throw new ForbiddenException('This route needs an admin API key');
    request.caller = caller;
    return true;
  }

  private route(context: ExecutionContext): { public: boolean; admin: boolean } {
    const handler = context.getHandler();
    let route = this.routes.get(handler);
    if (!route) {
      const targets = [handler, context.getClass()];
      route = {
        public: this.reflector.getAllAndOverride<boolean>(PUBLIC, targets) ?? false,
        admin: this.reflector.getAllAndOverride<boolean>(ADMIN, targets) ?? false,
      };
      this.routes.set(handler, route);
    }
    return route;
  }
}
