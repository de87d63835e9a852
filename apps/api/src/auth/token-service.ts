import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { and, eq, isNull } from 'drizzle-orm';
import type { Role } from '@lockstep/contracts';
import { Database } from '../db/database';
import { apiTokens } from '../db/schema';

/** A token as its holder presents it: `lst_<id>_<secret>`. */
const TOKEN = /^lst_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface TokenHolder {
  id: string;
  name: string;
  role: Role;
}

export interface TokenInfo extends TokenHolder {
  createdAt: string;
  createdBy: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The token of an `Authorization: Bearer <token>` header; null when there is no such header. */
export function bearerToken(header: string | string[] | undefined): string | null {
  return typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : null;
}

/**
 * API tokens with roles. Only a token's SHA-256 is stored (a token is 256 random bits, so a
 * plain hash cannot be reversed); the token itself is shown once, when it is made.
 */
@Injectable()
export class TokenService {
  constructor(@Inject(Database) private readonly database: Database) {}

  async create(name: string, role: Role, createdBy: string | null): Promise<TokenHolder & { token: string }> {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    await this.database.db.insert(apiTokens).values({
      id,
      name,
      role,
      secretSha256: sha256(secret).toString('hex'),
      createdBy,
    });
    return { id, name, role, token: `lst_${id}_${secret}` };
  }

  /** The holder of a presented token; null for a malformed, unknown or revoked one. */
  async verify(presented: string): Promise<TokenHolder | null> {
    const match = TOKEN.exec(presented);
    if (!match) return null;
    const [, id, secret] = match as unknown as [string, string, string];
    const [row] = await this.database.db
      .select()
      .from(apiTokens)
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)));
    if (!row || !timingSafeEqual(Buffer.from(row.secretSha256, 'hex'), sha256(secret))) return null;
    await this.database.db.update(apiTokens).set({ lastUsedAt: new Date() }).where(eq(apiTokens.id, id));
    return { id: row.id, name: row.name, role: row.role as Role };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await this.database.db.select().from(apiTokens).orderBy(apiTokens.createdAt);
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      role: row.role as Role,
      createdAt: row.createdAt.toISOString(),
      createdBy: row.createdBy,
      lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
      revokedAt: row.revokedAt?.toISOString() ?? null,
    }));
  }

  /** Revokes a token for good; false when there is no such token or it was revoked already. */
  async revoke(id: string): Promise<boolean> {
    const revoked = await this.database.db
      .update(apiTokens)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    return revoked.length > 0;
  }
}
