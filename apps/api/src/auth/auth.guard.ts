import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Role } from '@lockstep/contracts';
import type { FastifyReply, FastifyRequest } from 'fastify';
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
 * The holder of the request's bearer token when its role is one of `roles`; otherwise throws
 * 401 (no token, or an unknown or revoked one) or 403 (a role the route does not take).
 */
export async function authorize(
  tokens: TokenService,
  authorization: string | string[] | undefined,
  roles: readonly Role[],
): Promise<TokenHolder> {
  const presented = bearerToken(authorization);
  if (presented === null)
    throw new UnauthorizedException('an API token is required: Authorization: Bearer <token>');
  const holder = await tokens.verify(presented);
  if (!holder) throw new UnauthorizedException('the API token is unknown or revoked');
  if (!roles.includes(holder.role)) {
    throw new ForbiddenException(
      `role ${holder.role} may not do this${roles.length > 0 ? `; it takes ${roles.join(' or ')}` : ''}`,
    );
  }
  return holder;
}

/**
 * The same check as an `onRequest` hook, for what Fastify plugins serve outside Nest's routes
 * (`/docs`, `/admin/queues`): the refusal is answered as Nest answers it.
 */
export function tokenHook(
  tokens: TokenService,
  roles: readonly Role[],
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    try {
      await authorize(tokens, request.headers.authorization, roles);
    } catch (error) {
      if (!(error instanceof HttpException)) throw error;
      await reply.code(error.getStatus()).send(error.getResponse());
    }
  };
}

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
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets) ?? [];
    request.token = await authorize(this.tokens, request.headers.authorization, roles);
    return true;
  }
}
