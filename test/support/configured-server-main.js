/**
 * Starts the fixture app as its own process with any `sails.config.rooms`, given as JSON in
 * ROOMS_CONFIG (fixtures/app/app.js reads only a few settings from the environment). Prints the
 * same "listening on <url>" line as the fixture; SIGTERM lowers it (Sails' own handler).
 */
const { liftFixture, urlOf } = require('../../fixtures/app/app.js');

const env = process.env;
liftFixture({
  port: Number(env.PORT),
  log: { level: env.LOG_LEVEL || 'warn' },
  rooms: JSON.parse(env.ROOMS_CONFIG || '{}'),
  custom: { serverName: env.SERVER_NAME || 'server-1' },
}).then((app) => {
  console.log(`${app.config.custom.serverName} listening on ${urlOf(app)}`);
}, (err) => {
  console.error(err);
  process.exitCode = 1;
});
