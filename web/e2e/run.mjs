// End-to-end tests: headless Chromium (Debian's, driven by playwright-core) against the real server and kubesim.
//
// Starts kubesim and `storeplane serve` in process groups of their own, on free ports, with a data folder in a
// temporary directory; stops both whatever happens. Needs the production bundle (`npm run build`) and the
// Python environment (`scripts/bootstrap`). Screenshots go to docs/screenshots/.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SCREENSHOTS = join(REPO, 'docs', 'screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const TOKEN = 'e2e-token-0123456789abcdef';
const OWNER = 'alice';
// A store whose pod never becomes ready is Failed after this long.
const PROVISIONING_TIMEOUT = 6;
const READY_TIMEOUT = 60_000;
const STEP_TIMEOUT = 20_000;

const work = mkdtempSync(join(tmpdir(), 'storeplane-e2e-'));
const data = join(work, 'data');
const children = new Set();
let kubesimUrl = '';
let port = 0;
let base = '';
let server = null;
let context = null;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
}

/** Starts a command in a process group of its own (so that stopping it reaches its children too). */
function start(name, command, args, env) {
  const log = openSync(join(work, `${name}.log`), 'a');
  const child = spawn(command, args, { cwd: REPO, env, detached: true, stdio: ['ignore', log, log] });
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function stop(child, graceMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await child.exited;
  clearTimeout(timer);
}

function stopAllNow() {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', stopAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

async function until(what, check, timeoutMs = STEP_TIMEOUT, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

function serverEnv() {
  const helm = (name) => join(work, `helm-${name}`);
  for (const name of ['cache', 'config', 'data']) mkdirSync(helm(name), { recursive: true });
  return {
    ...process.env,
    PATH: `${join(REPO, '.tools', 'bin')}:${process.env.PATH}`,
    HOME: work,
    KUBECONFIG: join(work, 'kubeconfig'),
    HELM_CACHE_HOME: helm('cache'),
    HELM_CONFIG_HOME: helm('config'),
    HELM_DATA_HOME: helm('data'),
    STOREPLANE_KUBECONFIG: join(work, 'kubeconfig'),
    STOREPLANE_DATA_DIR: data,
    STOREPLANE_API_TOKENS: `${TOKEN}:${OWNER}`,
    // What `storeplane sign-in-link` builds its address from (`serve --port` overrides it for the server).
    STOREPLANE_PORT: String(port),
    STOREPLANE_PROVISIONING_TIMEOUT_SECONDS: String(PROVISIONING_TIMEOUT),
    STOREPLANE_WATCH_BACKOFF_INITIAL_SECONDS: '0.05',
    STOREPLANE_WATCH_BACKOFF_MAX_SECONDS: '0.5',
  };
}

async function startServer() {
  server = start('storeplane', join(REPO, '.venv', 'bin', 'storeplane'), ['serve', '--host', '127.0.0.1', '--port', String(port)], serverEnv());
  await until(
    'the server to be ready',
    async () => {
      if (server.exitCode !== null) throw new Error(`the server exited; see ${join(work, 'storeplane.log')}`);
      const response = await fetch(`${base}/readyz`);
      return response.ok;
    },
    90_000,
    200,
  );
}

/** A one-time sign-in link from the CLI, as `scripts/run` gets one: same settings as the server, link on stdout. */
async function signInLink() {
  const { stdout } = await promisify(execFile)(join(REPO, '.venv', 'bin', 'storeplane'), ['sign-in-link', '--owner', OWNER], {
    cwd: REPO,
    env: serverEnv(),
    timeout: STEP_TIMEOUT,
  });
  const link = stdout.trim();
  assert.match(link, new RegExp(`^${base.replace(/[.]/g, '\\.')}/auth/link\\?code=[^&\\s]+$`));
  return link;
}

async function api(query, variables = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

async function serverEventIds(storeId) {
  const ids = [];
  let after = null;
  for (;;) {
    const data = await api(
      'query($storeId: ID, $after: ID) { storeEvents(storeId: $storeId, after: $after, first: 100) { edges { node { id } } pageInfo { hasNextPage } } }',
      { storeId, after },
    );
    const page = data.storeEvents.edges.map((edge) => edge.node.id);
    ids.push(...page);
    if (!data.storeEvents.pageInfo.hasNextPage || page.length === 0) return ids;
    after = page[page.length - 1];
  }
}

async function fault(method, body) {
  const response = await fetch(`${kubesimUrl}/_kubesim/faults`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(response.ok, `kubesim faults ${method}: HTTP ${response.status}`);
}

const card = (page, name) => page.locator(`[data-store="${name}"]`);
const badge = (page, status) => page.locator(`#store-title ~ .badge[data-status="${status}"]`);
const timelineIds = (page) => page.locator('.timeline [data-event-id]').evaluateAll((items) => items.map((item) => item.dataset.eventId));

async function openStore(page, name) {
  await page.goto(`${base}/`);
  await card(page, name).getByRole('link', { name, exact: true }).click();
  await page.locator('#store-title', { hasText: name }).waitFor();
}

async function createInDialog(page, name) {
  await page.getByRole('button', { name: 'Create store', exact: true }).click();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.locator('#store-engine option').first().waitFor({ state: 'attached' });
  await page.getByRole('dialog').getByRole('button', { name: 'Create', exact: true }).click();
}

before(async () => {
  assert.ok(existsSync(join(REPO, 'web', 'dist', 'index.html')), 'build the bundle first: npm run build');
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install chromium`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  const kubeconfig = join(work, 'kubeconfig');
  start('kubesim', join(REPO, '.venv', 'bin', 'python'), ['-m', 'kubesim', '--profile', 'test', '--port', '0', '--kubeconfig', kubeconfig], {
    ...process.env,
  });
  await until('kubesim to write its kubeconfig', () => existsSync(kubeconfig), 30_000);
  kubesimUrl = /server:\s*(\S+)/.exec(readFileSync(kubeconfig, 'utf8'))[1].replace(/\/$/, '');
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  await startServer();
  context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1200, height: 860 },
  });
});

after(async () => {
  await context?.close();
  for (const child of [...children].reverse()) await stop(child);
  if (process.env.E2E_KEEP !== '1') rmSync(work, { recursive: true, force: true });
});

test('a one-time sign-in link trades its code for a cookie, leaves the address bar, and works once', async () => {
  const link = await signInLink();
  const code = new URL(link).searchParams.get('code');
  const page = await context.newPage();
  await page.goto(link);
  assert.equal(page.url(), `${base}/`);
  await page.getByTestId('connection').getByText('Live').waitFor();
  await page.getByText('You have no stores yet.').waitFor();
  const cookies = await context.cookies(base);
  const session = cookies.find((cookie) => cookie.name === 'storeplane_session');
  assert.ok(session, 'no session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.ok(!session.value.includes(TOKEN), 'the cookie holds the token');
  assert.ok(!session.value.includes(code), 'the cookie holds the sign-in code');

  // Used once: the same link again explains itself on the sign-in page (and this browser stays signed in).
  await page.goto(link);
  assert.equal(page.url(), `${base}/signin?error=invalid-link`);
  assert.match(await page.getByRole('alert').textContent(), /used or has expired.*storeplane sign-in-link --owner/);
  // The retired sign-in URL is refused without the token being looked at, and says why.
  await page.goto(`${base}/?token=${TOKEN}`);
  assert.equal(page.url(), `${base}/signin?error=token-in-url`);
  assert.match(await page.getByRole('alert').textContent(), /no longer accepted in the address/);
  await page.close();
});

test('the account menu lists the browsers signed in, and signing another out ends its live view at once', async () => {
  // Another browser, signed in with a pasted token; it says it is Firefox so that the list tells the two apart.
  const otherBrowser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const otherContext = await otherBrowser.newContext({
      userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0',
    });
    const other = await otherContext.newPage();
    await other.goto(`${base}/signin`);
    await other.getByLabel('API token').fill(TOKEN);
    await other.getByRole('button', { name: 'Sign in', exact: true }).click();
    await other.waitForURL(`${base}/`);
    await other.getByTestId('connection').getByText('Live').waitFor();

    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.getByTestId('connection').getByText('Live').waitFor();
    const account = page.getByRole('button', { name: `Account: ${OWNER}`, exact: true });
    assert.equal(await account.getAttribute('aria-expanded'), 'false');
    await account.click();
    assert.equal(await account.getAttribute('aria-expanded'), 'true');
    const menu = page.getByRole('dialog', { name: 'Account' });
    assert.match(await menu.locator('.account-who').textContent(), new RegExp(`Signed in as ${OWNER}\\s*owner`));
    const sessions = menu.getByRole('listitem');
    await until('both sessions in the menu', async () => (await sessions.count()) === 2);
    const mine = sessions.filter({ hasText: 'this browser' });
    assert.equal(await mine.count(), 1);
    assert.match(await mine.textContent(), /with a sign-in link/);
    const theirs = sessions.filter({ hasText: 'Firefox 128 on macOS' });
    assert.match(await theirs.textContent(), /with a token \(sha256:[0-9a-f]+\)/);
    assert.ok(!(await theirs.textContent()).includes(TOKEN));

    const header = await page.locator('header.topbar').boundingBox();
    const box = await menu.boundingBox();
    const left = Math.max(0, box.x - 24);
    await page.screenshot({
      path: join(SCREENSHOTS, 'account-menu.png'),
      clip: { x: left, y: 0, width: header.width - left, height: box.y + box.height + 16 },
    });

    await theirs.getByRole('button', { name: /^Sign out Firefox 128 on macOS/ }).click();
    await other.getByTestId('connection').getByText('Signed out').waitFor();
    await until('the menu to list this browser only', async () => (await sessions.count()) === 1);
    assert.match(await menu.getByRole('status').textContent(), /Signed out Firefox 128 on macOS/);
    await other.reload();
    await other.getByRole('heading', { name: 'Sign in to Storeplane' }).waitFor();

    // Escape closes the menu and gives the focus back to its button.
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
    assert.equal(await account.getAttribute('aria-expanded'), 'false');
    assert.equal(await account.evaluate((element) => element === document.activeElement), true);
    await page.close();
  } finally {
    await otherBrowser.close();
  }
});

test('a store created in one page appears in both, reports its events and turns Ready', async () => {
  const [first, second] = [await context.newPage(), await context.newPage()];
  await Promise.all([first.goto(`${base}/`), second.goto(`${base}/`)]);
  await second.getByTestId('connection').getByText('Live').waitFor();
  await first.getByRole('button', { name: 'Create store', exact: true }).click();
  const dialog = first.getByRole('dialog');
  await dialog.getByText('Starts with a letter').waitFor();
  await first.getByLabel('Name', { exact: true }).fill('e2e-shop');
  await first.locator('#store-engine option').first().waitFor({ state: 'attached' });
  await dialog.screenshot({ path: join(SCREENSHOTS, 'create-dialog.png') });
  await dialog.getByRole('button', { name: 'Create', exact: true }).click();
  await card(first, 'e2e-shop').waitFor({ timeout: 2_000 });
  await card(second, 'e2e-shop').waitFor({ timeout: 5_000 });

  await card(first, 'e2e-shop').getByRole('link', { name: 'e2e-shop', exact: true }).click();
  await badge(first, 'READY').waitFor({ timeout: READY_TIMEOUT });
  await card(second, 'e2e-shop').locator('[data-status="READY"]').waitFor({ timeout: 5_000 });
  const sources = await first.locator('.timeline .source').allTextContents();
  for (const source of ['api', 'helm', 'kubernetes']) assert.ok(sources.includes(source), `no ${source} event in ${sources}`);
  await first.locator('[data-resource^="Pod/"]').first().waitFor();
  const ids = await timelineIds(first);
  const storeId = decodeURIComponent(new URL(first.url()).pathname.split('/').pop());
  assert.deepEqual(ids, await serverEventIds(storeId));
  await first.locator('.timeline').screenshot({ path: join(SCREENSHOTS, 'store-timeline.png') });
  await first.screenshot({ path: join(SCREENSHOTS, 'store-detail.png'), fullPage: true });
  await Promise.all([first.close(), second.close()]);
});

test('the server’s typed errors show on the field they concern', async () => {
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await createInDialog(page, 'e2e-shop');
  const error = page.locator('#name-error');
  await error.waitFor();
  assert.match(await error.textContent(), /already exists/);
  assert.equal(await page.getByLabel('Name', { exact: true }).getAttribute('aria-invalid'), 'true');
  await page.getByLabel('Name', { exact: true }).fill('Shop');
  assert.match(await error.textContent(), /lowercase/);
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await page.close();
});

test('a store whose pod never becomes ready shows Failed with the reason, and Retry makes it Ready', async () => {
  await fault('POST', { action: 'never-ready', namespace: 'store-e2e-broken*' });
  const page = await context.newPage();
  await page.goto(`${base}/`);
  await createInDialog(page, 'e2e-broken');
  await card(page, 'e2e-broken').waitFor();
  await card(page, 'e2e-broken').locator('[data-status="FAILED"]').waitFor({ timeout: READY_TIMEOUT });
  await page.screenshot({ path: join(SCREENSHOTS, 'store-list.png'), fullPage: true });

  await openStore(page, 'e2e-broken');
  const failure = page.getByTestId('failure');
  await failure.waitFor();
  assert.match(await failure.textContent(), /did not become ready in time/);
  assert.match(await failure.textContent(), /not ready/i);
  await fault('DELETE');
  await failure.getByRole('button', { name: 'Retry' }).click();
  await badge(page, 'READY').waitFor({ timeout: READY_TIMEOUT });
  assert.equal(await page.getByTestId('failure').count(), 0);

  // Usable at 360 px: nothing wider than the screen.
  await page.setViewportSize({ width: 360, height: 740 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than 360px`);
  await page.close();
});

test('a deleted store disappears from every open list', async () => {
  const [detail, list] = [await context.newPage(), await context.newPage()];
  await list.goto(`${base}/`);
  await card(list, 'e2e-broken').waitFor();
  await openStore(detail, 'e2e-broken');
  await detail.getByRole('button', { name: 'Delete store' }).click();
  const confirm = detail.getByRole('button', { name: 'Delete', exact: true });
  assert.equal(await confirm.isDisabled(), true);
  await detail.getByLabel('Store name').fill('e2e-broken');
  await confirm.click();
  await detail.waitForURL(`${base}/`);
  await card(detail, 'e2e-broken').waitFor({ state: 'detached', timeout: READY_TIMEOUT });
  await card(list, 'e2e-broken').waitFor({ state: 'detached', timeout: 5_000 });
  await Promise.all([detail.close(), list.close()]);
});

test('after the server restarts, the page catches up without a gap or a duplicate', async () => {
  const page = await context.newPage();
  await openStore(page, 'e2e-shop');
  await badge(page, 'READY').waitFor();
  const storeId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop());
  const before = await timelineIds(page);

  await stop(server);
  await page.getByTestId('connection').getByText('Reconnecting…').waitFor();
  await startServer();
  // Events the page has not seen yet, written while it may still be reconnecting.
  const deletion = await api('mutation($id: ID!) { deleteStore(id: $id) { __typename } }', { id: storeId });
  assert.equal(deletion.deleteStore.__typename, 'DeleteStoreSuccess');
  await page.getByTestId('connection').getByText('Live').waitFor({ timeout: STEP_TIMEOUT });
  await badge(page, 'DELETED').waitFor({ timeout: READY_TIMEOUT });
  const expected = await serverEventIds(storeId);
  const shown = await until('the timeline to catch up', async () => {
    const ids = await timelineIds(page);
    return ids.length >= expected.length ? ids : null;
  });
  assert.deepEqual(shown, expected);
  assert.deepEqual(shown.slice(0, before.length), before);
  assert.equal(new Set(shown).size, shown.length);
  await page.close();
});

test('GraphiQL at /graphql comes from our bundle, uses the session, and runs a query and a live subscription offline', async () => {
  // Offline as far as the page can tell: any request to another host is aborted, and counts as a failure.
  const local = (url) => ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  const foreign = [];
  const isForeign = (url) => !local(url.href);
  const blockForeign = (route) => {
    foreign.push(route.request().url());
    return route.abort('blockedbyclient');
  };
  await context.route(isForeign, blockForeign);
  const page = await context.newPage();
  try {
    let subscribeSent = false;
    page.on('websocket', (socket) => {
      if (!local(socket.url())) foreign.push(socket.url());
      socket.on('framesent', ({ payload }) => {
        if (String(payload).includes('"subscribe"')) subscribeSent = true;
      });
    });
    const refused = [];
    page.on('console', (message) => /Content Security Policy|Refused to/i.test(message.text()) && refused.push(message.text()));
    page.on('pageerror', (error) => refused.push(String(error)));

    const response = await page.goto(`${base}/graphql`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /script-src 'self'(;|$)/);
    const editor = page.getByRole('region', { name: 'Operation Editor' });
    const result = page.getByRole('region', { name: 'Result Window' });
    const resultText = () => result.locator('.view-lines').innerText();
    await editor.locator('.view-lines', { hasText: 'engines' }).waitFor({ timeout: STEP_TIMEOUT });

    // The default query, sent with the dashboard's cookie: no header was typed.
    await page.getByRole('button', { name: /^Execute query/ }).click();
    await until('the engines in the result pane', async () => /"key":\s*"woocommerce"/.test(await resultText()));

    // A subscription over graphql-ws: a store created meanwhile, and its progress, arrive in the result pane.
    await editor.locator('.monaco-editor').click();
    await page.keyboard.press('ControlOrMeta+A');
    const subscription = 'subscription { storeChanged { id name status } }';
    await page.keyboard.insertText(subscription);
    // GraphiQL parses the editor 100 ms after the last change (and saves it then): run it only once parsed, or
    // it would go out over HTTP as the previous operation's kind.
    await until('GraphiQL to parse the subscription', () =>
      page.evaluate((text) => localStorage.getItem('graphiql:query') === text, subscription),
    );
    await page.getByRole('button', { name: /^Prettify query/ }).click();
    await page.getByRole('button', { name: /^Execute query/ }).click();
    await page.getByRole('button', { name: /^Stop query/ }).waitFor();
    await until('GraphiQL to send the subscription', () => subscribeSent);
    const created = await api(
      'mutation { createStore(input: {name: "e2e-graphiql", engine: "woocommerce"}) { __typename ... on CreateStoreSuccess { store { id } } } }',
    );
    assert.equal(created.createStore.__typename, 'CreateStoreSuccess');
    await until('the new store in the subscription’s results', async () => /"name":\s*"e2e-graphiql"/.test(await resultText()));
    assert.match(await resultText(), new RegExp(`"id":\\s*"${created.createStore.store.id}"`));
    await page.screenshot({ path: join(SCREENSHOTS, 'graphiql.png') });
    await page.getByRole('button', { name: /^Stop query/ }).click();

    assert.deepEqual(foreign, [], 'requests to another host');
    assert.deepEqual(refused, [], 'errors or Content-Security-Policy refusals');
  } finally {
    await page.close();
    await context.unroute(isForeign, blockForeign);
  }
});
