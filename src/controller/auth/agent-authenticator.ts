/**
 * One authenticator for a controller that serves both kinds of agent: Kubernetes nodes (a
 * ServiceAccount token, a JWT) and systemd hosts (a join token). The token's shape picks the
 * method, so neither kind has to say which it uses.
 */
import type { AgentAuthenticator, AgentPrincipal } from '../contracts.js';
import { bearerToken, unauthenticated } from './bearer-token.js';

/** A JWS compact serialization: three base64url parts (header, claims, signature). */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Which authenticators a controller runs; at least one. */
export interface AuthenticatorChoice {
  readonly joinTokens?: AgentAuthenticator | undefined;
  readonly kubernetes?: AgentAuthenticator | undefined;
}

/** Sends a JWT to the Kubernetes authenticator and anything else to the join tokens. */
export class CombinedAuthenticator implements AgentAuthenticator {
  private readonly joinTokens: AgentAuthenticator | undefined;
  private readonly kubernetes: AgentAuthenticator | undefined;

  constructor(choice: AuthenticatorChoice) {
    if (choice.joinTokens === undefined && choice.kubernetes === undefined) {
      throw new TypeError('CombinedAuthenticator needs a join token or a Kubernetes authenticator');
    }
    this.joinTokens = choice.joinTokens;
    this.kubernetes = choice.kubernetes;
  }

  /** See {@link AgentAuthenticator.authenticate}. */
  async authenticate(credentials: { readonly authorization?: string; readonly node?: string }): Promise<AgentPrincipal> {
    const isJwt = JWT.test(bearerToken(credentials.authorization));
    const target = isJwt ? this.kubernetes : this.joinTokens;
    if (target === undefined) {
      throw unauthenticated(
        isJwt
          ? 'a Kubernetes token was sent, but this controller accepts only join tokens (--join-tokens)'
          : 'a join token was sent, but this controller accepts only Kubernetes ServiceAccount tokens',
      );
    }
    return target.authenticate(credentials);
  }
}
