import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  encodePresence, encodeReply, encodeRequest, forEachMessage, presencePattern, sentBy,
  type ClusterRequest, type Message,
} from '../../lib/transport/redis/wire';

const SERVER = '0b6f6c1e-3d0f-4b8e-9a43-6f1f0c2d7e55';

/** The messages of a payload, after the trip through Redis: UTF-8 bytes and back. */
function messagesOf(payload: string): Message[] {
  const messages: Message[] = [];
  forEachMessage(Buffer.from(payload, 'utf8').toString('utf8'), (message) => messages.push(message));
  return messages;
}

/** Room names and IDs that need escaping in JSON, or that a hand-made format would trip on. */
const AWKWARD = ['a"quote', 'back\\slash', 'new\nline', 'comma,]["', 'ünïcödé 🎉', 'lone \ud800 surrogate', ''];

const REQUESTS: ClusterRequest[] = [
  { kind: 'change', change: { type: 'leave', socketIds: ['s1'], rooms: ['fun'] } },
  { kind: 'change', change: { type: 'join', socketIds: ['s1', 's2'], rooms: AWKWARD } },
  { kind: 'change', change: { type: 'addMembers', sourceRoom: 'from"here', rooms: ['a', 'b'] } },
  { kind: 'change', change: { type: 'removeMembers', sourceRoom: 'src', rooms: ['a'] } },
  { kind: 'change', change: { type: 'leaveAll', sourceRoom: 'src', includeSocketRooms: true, includeSourceRoom: false } },
  { kind: 'change', change: { type: 'leaveAll', sourceRoom: 'src', includeSocketRooms: false, includeSourceRoom: true } },
  { kind: 'roomsOf', socketId: 'x"y' },
  { kind: 'membersOf', room: 'ünïcödé' },
];

describe('the messages servers exchange on Redis', () => {
  it('carry every kind of request, whatever its room names hold', () => {
    for (const request of REQUESTS) {
      const before = Date.now();
      const [message] = messagesOf(encodeRequest(SERVER, 7, true, 5000, request));
      assert.ok(message?.t === 'request');
      assert.deepEqual(message.request, request);
      assert.equal(message.from, SERVER);
      assert.equal(message.id, 7);
      assert.equal(message.reply, true);
      assert.equal(message.ttl, 5000);
      assert.ok(message.sentAt >= before && message.sentAt <= Date.now());
    }
    const [unanswered] = messagesOf(encodeRequest(SERVER, 8, false, 100, REQUESTS[0]!));
    assert.ok(unanswered?.t === 'request' && unanswered.reply === false);
  });

  it('carry any string as a room name or socket ID, unchanged (property)', () => {
    // 'binary' strings hold any UTF-16 code unit: control characters, quotes, lone surrogates.
    const names = fc.array(fc.string({ unit: 'binary', maxLength: 30 }), { minLength: 1, maxLength: 5 });
    fc.assert(fc.property(names, names, (socketIds, rooms) => {
      const request: ClusterRequest = { kind: 'change', change: { type: 'join', socketIds, rooms } };
      const [message] = messagesOf(encodeRequest(SERVER, 1, true, 5000, request));
      assert.ok(message?.t === 'request');
      assert.deepEqual(message.request, request);
      const [reply] = messagesOf(encodeReply(SERVER, 1, { matched: socketIds.length, foundIds: socketIds, names: rooms }));
      assert.ok(reply?.t === 'reply');
      assert.deepEqual(reply.reply, { matched: socketIds.length, foundIds: socketIds, names: rooms });
    }), { numRuns: 500 });
  });

  it('carry replies: every named socket found, some of them, and the names of a query', () => {
    const cases = [
      { matched: 1, foundIds: 'all' as const },
      { matched: 2, foundIds: ['s1', 'x"y'] },
      { matched: 0, foundIds: [], names: null },
      { matched: 1, foundIds: 'all' as const, names: AWKWARD },
    ];
    for (const reply of cases) {
      const [message] = messagesOf(encodeReply(SERVER, 3, reply));
      assert.ok(message?.t === 'reply');
      assert.equal(message.id, 3);
      assert.deepEqual(message.reply, reply);
    }
  });

  it('carry presence, and a server recognizes its own messages and its own hello', () => {
    for (const presence of ['hello', 'up', 'beat', 'bye'] as const) {
      const payload = encodePresence(SERVER, presence);
      assert.deepEqual(messagesOf(payload).map((m) => [m.t, m.from]), [[presence, SERVER]]);
      assert.ok(sentBy(payload, SERVER));
      assert.ok(!sentBy(payload, 'another-server'));
      assert.equal(presencePattern(SERVER, 'hello').test(payload), presence === 'hello');
    }
    // A request naming a room "hello" is not a hello.
    const request = encodeRequest(SERVER, 1, true, 5000, { kind: 'change', change: { type: 'leave', socketIds: ['s'], rooms: ['hello'] } });
    assert.ok(!presencePattern(SERVER, 'hello').test(`[${request}]`));
  });

  it('are read one by one from a batch, in order', () => {
    const batch = `[${encodePresence(SERVER, 'beat')},${encodeRequest(SERVER, 1, true, 5000, REQUESTS[0]!)},${encodeReply(SERVER, 9, { matched: 0, foundIds: [] })}]`;
    assert.deepEqual(messagesOf(batch).map((m) => m.t), ['beat', 'request', 'reply']);
    assert.ok(sentBy(batch, SERVER));
  });

  it('ignore what is not one of them, without throwing', () => {
    const strangers = ['', 'not json', '42', 'null', '{"t":"request"}', '[]', '[null]', '[[null],[1,2]]', `["${SERVER}",1,"nonsense"]`,
      `["${SERVER}",1,"q",1,1,5000,"explode",[],[]]`];
    for (const payload of strangers) assert.deepEqual(messagesOf(payload), [], payload);
    // One stranger in a batch does not hide the messages around it.
    assert.deepEqual(messagesOf(`[[1,2],${encodePresence(SERVER, 'up')},[null]]`).map((m) => m.t), ['up']);
  });
});

describe('a request that names the servers its sender does not count on', () => {
  it('carries them after the arguments of each kind, and a request without them reads as before', () => {
    const requests: ClusterRequest[] = [
      { kind: 'change', change: { type: 'join', socketIds: ['s'], rooms: ['r'] } },
      { kind: 'change', change: { type: 'removeMembers', sourceRoom: 'src', rooms: ['r'] } },
      { kind: 'change', change: { type: 'leaveAll', sourceRoom: 'src', includeSocketRooms: true, includeSourceRoom: false } },
      { kind: 'roomsOf', socketId: 's' },
      { kind: 'membersOf', room: 'r' },
    ];
    for (const request of requests) {
      const read: Message[] = [];
      forEachMessage(encodeRequest('a', 1, true, 1000, request, 5, ['b', 'c']), (message) => read.push(message));
      forEachMessage(encodeRequest('a', 2, true, 1000, request, 5), (message) => read.push(message));
      assert.deepEqual(read.map((m) => (m.t === 'request' ? m.excluded ?? null : 'not a request')), [['b', 'c'], null], JSON.stringify(request));
      assert.deepEqual(read.map((m) => m.t === 'request' && m.request), [request, request]);
    }
  });
});
