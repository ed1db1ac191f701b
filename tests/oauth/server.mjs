// Runs oidc-provider (an OpenID-certified authorization server) on loopback for epic-mcp's tests.
// Usage: node server.mjs CONFIG.json. The config names the port, the resource servers it issues JWT access
// tokens for (by RFC 8707 resource indicator), and the clients (client_credentials, with a secret, allowed
// scopes, an access token lifetime, and optional extra claims). Prints "ready <issuer>" when listening.
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;
const clientsById = Object.fromEntries(config.clients.map((c) => [c.client_id, c]));

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    scope: c.scope,
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [config.signing_key] },
  scopes: config.scopes,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator, client) => {
        if (!config.resources.includes(resourceIndicator)) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: config.scopes.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: clientsById[client.clientId].access_token_ttl ?? 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: async (ctx, token) => clientsById[token.clientId]?.extra_claims,
});
provider.proxy = false;
provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
