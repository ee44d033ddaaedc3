/** The cases, in the order they run; each exports its driver (`measure`) and its server commands. */
import * as localLeave from './local-leave';
import * as remoteLatency from './remote-latency';
import * as remoteThroughput from './remote-throughput';
import * as roomToRoom from './room-to-room';
import * as endToEnd from './end-to-end';
import * as hotPath from './hot-path';
import * as scale from './scale';

export const cases = [
  { name: '1. local leave', module: localLeave, timeoutMs: 30_000 },
  { name: '2. remote confirmed leave latency', module: remoteLatency, timeoutMs: 45_000 },
  { name: '3. remote leave throughput', module: remoteThroughput, timeoutMs: 45_000 },
  { name: '4. room to room at scale', module: roomToRoom, timeoutMs: 75_000 },
  { name: '5. end to end', module: endToEnd, timeoutMs: 200_000 },
  { name: '7. the hook\'s own time, warm and cold', module: hotPath, timeoutMs: 120_000 },
];

// Case 6 (scale) has a script of its own, bench/scale.ts; its servers answer its commands too.
export const caseCommands = Object.assign({}, ...cases.map(({ module }) => module.serverCommands), scale.serverCommands);
