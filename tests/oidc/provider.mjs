// An independent, OpenID-certified provider for Lectern's single sign-on tests: panva's
// oidc-provider (npm), on loopback, with its development login and consent pages.
//
//   node tests/oidc/provider.mjs PORT REDIRECT_URI POST_LOGOUT_URI
//
// Anyone may sign in as one of the accounts below with any password. Prints "ready" when listening.
import Provider from 'oidc-provider';

const [port, redirect, postLogout] = process.argv.slice(2);

const accounts = {
  ada: { email: 'ada@example.org', email_verified: true, name: 'Ada', preferred_username: 'ada', groups: ['training', 'cohort-spring'] },
  ines: { email: 'ines@example.org', email_verified: true, name: 'Ines', preferred_username: 'ines', groups: ['training-staff'] },
  root: { email: 'root@example.org', email_verified: true, name: 'Root', preferred_username: 'root', groups: ['lectern-admins'] },
  mallory: { email: 'mallory@elsewhere.example', email_verified: true, name: 'Mallory', preferred_username: 'mallory', groups: [] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: 'lectern',
    client_secret: 'lectern-test-secret',
    redirect_uris: [redirect],
    post_logout_redirect_uris: [postLogout],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // The requested scopes' claims go in the ID token too, as Keycloak and Entra put groups there.
  conformIdTokenClaims: false,
  cookies: { keys: ['lectern-test-cookie-key'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
});

provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
