import assert from 'node:assert/strict';
import { access, cp, mkdtemp, mkdir, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectSailsIo, type TestClient } from '../support/clients';
import { nextEvent, record } from '../support/events';
import { freePort } from '../support/fixture';
import { run, startChild, type Child } from '../support/processes';
import { startRedis, type TestRedis } from '../support/redis';

const REPO = path.resolve(__dirname, '../..');
const SEED_ACTION = `
  leaveFunRoom: function(req, res) {
    if ( _.isUndefined(req.param('roomName')) ) {
      return res.badRequest('\`roomName\` is required.');
    }

    if (!req.isSocket) {
      return res.badRequest('This endpoints only supports socket requests.');
    }

    var roomName = req.param('roomName');
    sails.sockets.leave(req, roomName, function(err) {
      if (err) {return res.serverError(err);}
      return res.json({
        message: 'Left a fun room called '+roomName+'!'
      });
    });
  }`;

/** Every installed copy of package `name` under `dir` ("node_modules/…/node_modules/name"), with its version. */
async function installedCopies(dir: string, name: string): Promise<string[]> {
  const files = await readdir(path.join(dir, 'node_modules'), { recursive: true });
  const copies = files.filter((file) => file === path.join(name, 'package.json')
    || file.endsWith(path.join(path.sep, 'node_modules', name, 'package.json')));
  return Promise.all(copies.sort().map(async (file) => {
    const { version } = JSON.parse(await readFile(path.join(dir, 'node_modules', file), 'utf8')) as { version: string };
    return `${path.join('node_modules', path.dirname(file))}@${version}`;
  }));
}

/**
 * The files that `markdownFile`'s relative links and images point to, and theirs in turn, as paths
 * relative to `root`; those that do not exist are listed as "missing: <path> (from <file>)".
 */
async function linkedFiles(root: string, markdownFile: string): Promise<string[]> {
  const seen = new Set<string>();
  const pending = [markdownFile];
  const found: string[] = [];
  while (pending.length > 0) {
    const file = pending.pop()!;
    const text = await readFile(path.join(root, file), 'utf8');
    for (const match of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const link = match[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('#')) continue;
      const target = path.normalize(path.join(path.dirname(file), link.split('#')[0]!));
      if (seen.has(target)) continue;
      seen.add(target);
      try {
        await access(path.join(root, target));
        found.push(target);
        if (target.endsWith('.md')) pending.push(target);
      } catch {
        found.push(`missing: ${target} (from ${file})`);
      }
    }
  }
  return found.sort();
}

/** A new Sails app as `sails new` would shape it, with no setup for the hook but the install. */
const APP_FILES: Record<string, string> = {
  'app.js': `require('sails').lift({ port: Number(process.env.PORT), hooks: { grunt: false }, log: { level: 'warn' } }, (err) => {
  if (err) { console.error(err); process.exit(1); }
  console.log('lifted; sails.sockets.leave is ' + sails.sockets.leave.name + ', sails.hooks.rooms.membersOf is a ' + typeof sails.hooks.rooms.membersOf);
});
process.on('SIGTERM', () => sails.lower(() => process.exit(0)));`,
  'config/globals.js': `module.exports.globals = { _: require('@sailshq/lodash'), async: false, models: false, sails: true };`,
  'config/routes.js': `module.exports.routes = {
  'POST /leave-fun-room': 'FunController.leaveFunRoom',
  'POST /join-fun-room': 'FunController.joinFunRoom',
  'POST /shout': 'FunController.shout',
  'POST /kick': 'FunController.kick',
};`,
  'api/controllers/FunController.js': `module.exports = {
${SEED_ACTION},
  joinFunRoom: function(req, res) {
    sails.sockets.join(req, req.param('roomName'), function(err) {
      if (err) {return res.serverError(err);}
      return res.json({ socketId: sails.sockets.getId(req) });
    });
  },
  kick: function(req, res) {
    var roomName = req.param('roomName');
    sails.sockets.leave(req.param('socketId'), roomName, function(err, result) {
      if (err) {return res.serverError(err);}
      sails.sockets.broadcast(roomName, 'shout', { text: 'kicked ' + req.param('socketId') });
      return res.json(result);
    });
  },
  shout: function(req, res) {
    sails.sockets.broadcast(req.param('roomName'), 'shout', { text: req.param('text') });
    return res.ok();
  }
};`,
};

describe('the packed package in a new Sails app', function () {
  // npm pack and npm install from the local cache.
  this.timeout(240_000);

  let workDir: string;
  let server: Child | undefined;
  let client: TestClient | undefined;
  let url: string;
  let appDir: string;

  before(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-pack-'));
    await run('npm', ['pack', '--pack-destination', workDir], { cwd: REPO });
    const tarball = (await readdir(workDir)).find((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made a tarball');

    appDir = path.join(workDir, 'app');
    for (const [file, text] of Object.entries(APP_FILES)) {
      await mkdir(path.dirname(path.join(appDir, file)), { recursive: true });
      await writeFile(path.join(appDir, file), text);
    }
    await writeFile(path.join(appDir, 'package.json'), JSON.stringify({ name: 'fun-app', private: true }));
    const versions = require('../../package.json').devDependencies as Record<string, string>;
    await run('npm', [
      'install', '--prefer-offline', '--no-audit', '--no-fund',
      `sails@${versions.sails}`, `sails-hook-sockets@${versions['sails-hook-sockets']}`,
      `@sailshq/lodash@${versions['@sailshq/lodash']}`, path.join(workDir, tarball),
    ], { cwd: appDir });

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = await startApp(appDir, port);
  });

  after(async () => {
    client?.disconnect();
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  async function startApp(dir: string, port: number): Promise<Child> {
    const child = startChild(process.execPath, ['app.js'], { cwd: dir, env: { ...process.env, PORT: String(port), NODE_ENV: 'development' } });
    try {
      await child.waitForOutput(/lifted;/, 60_000);
    } catch (err) {
      await child.stop();
      throw err;
    }
    return child;
  }

  it('is discovered as the `rooms` hook with no setup but `npm install`', () => {
    // sails-hook-sockets' own is `leaveRoom`.
    assert.match(server!.output(), /lifted; sails.sockets.leave is leave, sails.hooks.rooms.membersOf is a function/);
  });

  it('installs one socket.io and one socket.io-adapter, shared with sails-hook-sockets', async () => {
    // The hook only types the socket.io that sails-hook-sockets runs: it must not bring its own.
    const copies = await installedCopies(appDir, 'socket.io');
    assert.equal(copies.length, 1, `one socket.io: ${copies.join(', ')}`);
    const resolvedFrom = (dir: string) => require.resolve('socket.io', { paths: [path.join(appDir, 'node_modules', dir)] });
    assert.equal(resolvedFrom('sails-hook-rooms'), resolvedFrom('sails-hook-sockets'));
    const adapters = await installedCopies(appDir, 'socket.io-adapter');
    assert.equal(adapters.length, 1, `one socket.io-adapter for socket.io and @socket.io/redis-adapter: ${adapters.join(', ')}`);
  });

  it("has type declarations that compile in the app against the app's socket.io", async () => {
    await writeFile(path.join(appDir, 'typed.ts'), `import type { SocketLike } from 'sails-hook-rooms';
import type { Socket } from 'socket.io';
export const named: SocketLike = null as unknown as Socket;
`);
    await run(process.execPath, [
      require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--skipLibCheck', 'false',
      '--target', 'ES2022', '--module', 'commonjs', '--esModuleInterop', 'typed.ts',
    ], { cwd: appDir });
  });

  it('ships every file its README links to, and the files those link to', async () => {
    const packageDir = path.join(appDir, 'node_modules/sails-hook-rooms');
    const linked = await linkedFiles(packageDir, 'README.md');
    assert.ok(linked.some((file) => /\.(svg|png)$/.test(file)), `the README's chart among its links: ${linked.join(', ')}`);
    assert.deepEqual(linked.filter((file) => file.startsWith('missing:')), []);
  });

  it('runs the documentation example leaveFunRoom as written', async () => {
    client = await connectSailsIo(url);
    const joined = await client.request('post', '/join-fun-room', { roomName: 'fun' });
    assert.equal(joined.statusCode, 200);
    const socketId: string = joined.body.socketId;

    const before = nextEvent<{ text: string }>(client, 'shout');
    await client.request('post', '/shout', { roomName: 'fun', text: 'while in the room' });
    assert.deepEqual(await before, { text: 'while in the room' });

    const left = await client.request('post', '/leave-fun-room', { roomName: 'fun' });
    assert.equal(left.statusCode, 200);
    assert.deepEqual(left.body, { message: 'Left a fun room called fun!' });

    // A shout to the fun room, then one to the socket's own room: the second arrives, the first must not.
    const shouts = record<{ text: string }>(client, 'shout');
    await client.request('post', '/shout', { roomName: 'fun', text: 'after leaving' });
    const sentinel = nextEvent(client, 'shout');
    await client.request('post', '/shout', { roomName: socketId, text: 'sentinel' });
    await sentinel;
    shouts.stop();
    assert.deepEqual(shouts.received.map((m) => m.text), ['sentinel']);
  });

  describe('two such apps on Redis, configured only with config/rooms.js', () => {
    let redis: TestRedis;
    const apps: Array<{ child: Child; url: string }> = [];
    const clients: TestClient[] = [];

    before(async () => {
      redis = await startRedis();
      const secondDir = path.join(workDir, 'app2');
      await cp(appDir, secondDir, { recursive: true });
      for (const dir of [appDir, secondDir]) {
        await writeFile(path.join(dir, 'config/rooms.js'), `module.exports.rooms = { adapter: 'redis', url: '${redis.url}' };`);
        const port = await freePort();
        apps.push({ child: await startApp(dir, port), url: `http://127.0.0.1:${port}` });
      }
    });

    after(async () => {
      for (const connected of clients) connected.disconnect();
      await Promise.all(apps.map(({ child }) => child.stop()));
      await redis?.stop();
    });

    async function post(url: string, route: string, body: Record<string, unknown>) {
      const response = await fetch(url + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const isJson = response.headers.get('content-type')?.includes('json');
      return { status: response.status, body: (isJson ? await response.json() : await response.text()) as any };
    }

    it("leave each other's sockets by ID, confirmed, with nothing broadcast from the callback reaching them", async () => {
      for (const [holder, kicker] of [[apps[0]!, apps[1]!], [apps[1]!, apps[0]!]]) {
        const member = await connectSailsIo(holder.url);
        clients.push(member);
        const { body } = await member.request('post', '/join-fun-room', { roomName: 'fun' });
        for (let run = 0; run < 20; run += 1) {
          const shouts = record<{ text: string }>(member, 'shout');
          const kicked = await post(kicker.url, '/kick', { socketId: body.socketId, roomName: 'fun' });
          assert.equal(kicked.status, 200);
          assert.equal(kicked.body.matched, 1);
          assert.deepEqual(kicked.body.notFound, []);
          const sentinel = nextEvent(member, 'shout');
          await post(kicker.url, '/shout', { roomName: body.socketId, text: 'sentinel' });
          await sentinel;
          shouts.stop();
          assert.deepEqual(shouts.received.map((m) => m.text), ['sentinel']);
          await member.request('post', '/join-fun-room', { roomName: 'fun' });
        }
      }
    });
  });
});

