/**
 * TEST-ONLY. One server of the soak: the fixture app on Redis, plus a debug route the soak driver
 * reads (`/__soak/*`). Nothing here is part of the fixture app or of the hook; no app should open
 * such a route.
 *
 * Environment: PORT, SERVER_NAME, REDIS_URL, ROOMS_TIMEOUT (ms), LOG_LEVEL. Run with --expose-gc
 * so that heap figures are taken after a full collection.
 */
const ROOMS_TIMEOUT = Number(process.env.ROOMS_TIMEOUT || 5000);

// The hook keeps one timer of exactly `timeout` ms per request waiting for other servers, cleared
// when the request settles: the live timers of that delay are its pending-request map, seen from
// outside. Pick a timeout nothing else in the process uses (the soak uses 2500 ms).
const pendingTimers = new Set();
let pendingPeak = 0;
const { setTimeout: originalSetTimeout, clearTimeout: originalClearTimeout } = global;
global.setTimeout = function setTimeout(callback, delay, ...args) {
  if (delay !== ROOMS_TIMEOUT || typeof callback !== 'function') return originalSetTimeout(callback, delay, ...args);
  const timer = originalSetTimeout(function onTimeout(...callbackArgs) {
    pendingTimers.delete(timer);
    return callback.apply(this, callbackArgs);
  }, delay, ...args);
  pendingTimers.add(timer);
  pendingPeak = Math.max(pendingPeak, pendingTimers.size);
  return timer;
};
global.clearTimeout = function clearTimeout(timer) {
  pendingTimers.delete(timer);
  return originalClearTimeout(timer);
};

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
  // ?membership=1 adds every local socket's rooms; ?gc=1 collects garbage first.
  'GET /__soak/state': function (req, res) {
    if (req.param('gc') && typeof global.gc === 'function') {
      global.gc();
      global.gc();
    }
    const peak = pendingPeak;
    if (req.param('resetPeak')) pendingPeak = pendingTimers.size;
    return res.json({
      server: sails.config.custom.serverName,
      pid: process.pid,
      heapUsed: process.memoryUsage().heapUsed,
      gcExposed: typeof global.gc === 'function',
      pendingRequests: pendingTimers.size,
      pendingPeak: peak,
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
  rooms: { adapter: 'redis', url: env.REDIS_URL, timeout: ROOMS_TIMEOUT },
  custom: { serverName: env.SERVER_NAME || 'server-1' },
  // The driver's HTTP requests carry no cookie: without this, each would leave a session in the
  // memory store, and the heap figures would measure Sails' sessions, not the hook.
  session: { isSessionDisabled: () => true },
  routes: debugRoutes,
}).then((app) => {
  sails = app;
  console.log(`${app.config.custom.serverName} listening on ${urlOf(app)}`);
}, (err) => {
  console.error(err);
  process.exitCode = 1;
});
