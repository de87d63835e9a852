import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Role } from '@lockstep/contracts';
import type { FastifyRequest } from 'fastify';
import { bearerToken, TokenService, type TokenHolder } from './token-service';

const PUBLIC = 'lockstep:public';
const ROLES_KEY = 'lockstep:roles';

/** A route anyone may call (`/health`). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);

/** The roles that may call a route; every route that is not public names them. */
export const Roles = (...roles: Role[]): MethodDecorator & ClassDecorator => SetMetadata(ROLES_KEY, roles);

/** Every role: for routes that only read. */
export const ANY_ROLE: Role[] = ['admin', 'operator', 'ci', 'viewer'];

export type AuthenticatedRequest = FastifyRequest & { token?: TokenHolder };

/**
 * Every route but the public ones needs a bearer token whose role the route allows. A route
 * that names no roles is refused to everyone: forgetting them never opens a route.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const presented = bearerToken(request.headers.authorization);
    if (presented === null)
      throw new UnauthorizedException('an API token is required: Authorization: Bearer <token>');
    const holder = await this.tokens.verify(presented);
    if (!holder) throw new UnauthorizedException('the API token is unknown or revoked');
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets) ?? [];
    if (!roles.includes(holder.role)) {
      throw new ForbiddenException(
        `role ${holder.role} may not do this${roles.length > 0 ? `; it takes ${roles.join(' or ')}` : ''}`,
      );
    }
    request.token = holder;
    return true;
  }
}
