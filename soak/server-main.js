/**
 * TEST-ONLY. One server of the soak: the fixture app on Redis, plus a debug route the soak driver
 * reads (`/__soak/*`). Nothing here is part of the fixture app or of the hook; no app should open
 * such a route.
 *
 * Environment: PORT, SERVER_NAME, REDIS_URL or REDIS_SENTINEL (sails.config.rooms.sentinel as JSON),
 * ROOMS_TIMEOUT (ms), ROOMS_WHEN_REDIS_DOWN (whenRedisDown, left out if unset), LOG_LEVEL. Run with
 * --expose-gc so that heap figures are taken after a full collection.
 */
const fs = require('fs');

const ROOMS_TIMEOUT = Number(process.env.ROOMS_TIMEOUT || 5000);

/** sails.config.rooms from the environment. */
function roomsConfig(env) {
  const rooms = { adapter: 'redis', timeout: ROOMS_TIMEOUT };
  if (env.REDIS_SENTINEL) rooms.sentinel = JSON.parse(env.REDIS_SENTINEL);
  else rooms.url = env.REDIS_URL;
  if (env.ROOMS_WHEN_REDIS_DOWN) rooms.whenRedisDown = env.ROOMS_WHEN_REDIS_DOWN;
  return rooms;
}

// The hook's long-lived maps (its pending requests, its peers, …) are private to its transport.
// The transport's compiled modules get their own `Map`, which records every map created while
// the app lifts, with the name of the variable it is assigned to (read from that line of source).
// Nothing else in the process is touched.
const transportMaps = [];
let recording = true;
class RecordedMap extends Map {
  constructor(entries) {
    super(entries);
    if (!recording) return;
    const site = /(\/[^()\s]*\.js):(\d+):\d+/.exec(new Error().stack.split('\n')[2] || '');
    if (site) transportMaps.push({ map: new WeakRef(this), site: `${site[1].split('/').slice(-2).join('/')}:${site[2]}`, file: site[1], line: Number(site[2]) });
  }
}
global.__soakRecordedMap = RecordedMap;
const Module = require('module');
const originalCompile = Module.prototype._compile;
Module.prototype._compile = function compile(content, filename) {
  if (/[\\/]dist[\\/]transport[\\/].+\.js$/.test(filename) && !filename.includes('node_modules')) {
    // On the first line, after "use strict": line numbers stay those of the file.
    content = content.replace(/^("use strict";)?/, (directive) => `${directive}const Map = global.__soakRecordedMap;`);
  }
  return originalCompile.call(this, content, filename);
};

/** The variable a recorded Map is assigned to, from its line of source ("const pending = new Map()"). */
function nameOf({ file, line, site }) {
  try {
    const source = fs.readFileSync(file, 'utf8').split('\n')[line - 1] || '';
    return (/(\w+)\s*=\s*new Map\b/.exec(source) || /(\w+):\s*new Map\b/.exec(source) || [])[1] || site;
  } catch {
    return site;
  }
}

const { liftFixture, urlOf } = require('../fixtures/app/app.js');

let sails;

/** Every socket of this server and its rooms, its own ID room left out. */
function localMembership() {
  const sockets = {};
  for (const [id, socket] of sails.io.of('/').sockets) {
    sockets[id] = [...socket.rooms].filter((room) => room !== id).sort();
  }
  return sockets;
}

function resourceCounts() {
  const counts = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] || 0) + 1;
  return counts;
}

const debugRoutes = {
  // ?membership=1 adds every local socket's rooms; ?gc=1 collects garbage first; `maps`: the hook's
  // transport maps and their sizes now.
  'GET /__soak/state': function (req, res) {
    if (req.param('gc') && typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    return res.json({
      server: sails.config.custom.serverName,
      pid: process.pid,
      heapUsed: process.memoryUsage().heapUsed,
      gcExposed: typeof global.gc === 'function',
      maps: transportMaps.map((entry) => ({ name: entry.name, site: entry.site, size: entry.map.deref()?.size ?? null })),
      sockets: sails.io.of('/').sockets.size,
      rooms: sails.io.of('/').adapter.rooms.size,
      resources: resourceCounts(),
      membership: req.param('membership') ? localMembership() : undefined,
    });
  },
  // Every local socket leaves every room but its own, directly (no hook, no cluster message).
  'POST /__soak/reset': function (req, res) {
    for (const [id, socket] of sails.io.of('/').sockets) {
      for (const room of [...socket.rooms]) if (room !== id) socket.leave(room);
    }
    return res.json({ rooms: sails.io.of('/').adapter.rooms.size });
  },
  // A message to every socket of the cluster, sent after everything this server broadcast before.
  'POST /__soak/blast': function (req, res) {
    sails.sockets.blast('soak:sentinel', { nonce: req.param('nonce'), server: sails.config.custom.serverName });
    return res.ok();
  },
};

const env = process.env;
liftFixture({
  port: Number(env.PORT),
  log: { level: env.LOG_LEVEL || 'warn' },
  rooms: roomsConfig(env),
  custom: { serverName: env.SERVER_NAME || 'server-1' },
  // The driver's HTTP requests carry no cookie: without this, each would leave a session in the
  // memory store, and the heap figures would measure Sails' sessions, not the hook.
  session: { isSessionDisabled: () => true },
  routes: debugRoutes,
}).then((app) => {
  recording = false;
  for (const entry of transportMaps) entry.name = nameOf(entry);
  sails = app;
  console.log(`${app.config.custom.serverName} listening on ${urlOf(app)}`);
}, (err) => {
  console.error(err);
  process.exitCode = 1;
});
