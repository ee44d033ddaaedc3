/*
 * A model of the partition protocol of docs/partitions.md, for spin. docs/model/check.sh runs it
 * in every configuration that matters; by hand:
 *
 *   spin -a [-DBUG_... -DN...=k] partitions.pml && gcc -O2 -DSAFETY -o pan pan.c && ./pan -m100000
 *   spin -t [same -D flags] partitions.pml       (replays a counterexample: one line per event)
 *
 * Two servers: A (the caller: leave, join, broadcast) and B (holds socket S; S is in room R at
 * the start, as after a confirmed join). Only B is cut off or fenced; A fences it. One process:
 * each branch of the main loop is one event, run atomically; spin explores every order of them.
 * Without switches the model follows the code (lib/transport/redis: registry.ts, standing.ts,
 * gate.ts, catch-up.ts, local-changes.ts, peers.ts, requests.ts, node.ts). Each BUG_ switch removes
 * one guard of the code, to show that the model notices (docs/model/README.md lists them).
 *
 * What is abstracted, and why that keeps the properties:
 * - Time. Timers are nondeterministic events: B may hold at any moment ("deaf"), a heartbeat may
 *   fire at any moment (bounded numbers of each), requests time out. One timing relation is
 *   kept, because the design rests on it: A can fence B only when B's messages stop reaching
 *   Redis and, unless B is paused, B already holds (a running server that does not hear itself
 *   holds after 2.5 s, before the others' 3.5 s expiry); a paused B may be fenced at any moment.
 *   -DUNTIMED_FENCE drops that relation (and then finds runs no clock allows).
 * - When nothing else can happen (spin's `timeout`) a second passes: both heartbeats fire, or a
 *   request times out (at the latest after TOIDLE such seconds), or the wait after Redis lost the
 *   record (max(timeout, 10 s)) is over. P5 counts these seconds. So a server waiting for the
 *   members it knew gives up only when the other cannot register any more: the wait is taken to
 *   be long enough for a live server to come back.
 * - A command runs at Redis the moment its server sends it; its reply is a later event. A server
 *   sends its commands on one connection, in order, so every real run maps to one where each
 *   command runs as it is sent (move the send later, with the server's own steps in between,
 *   which Redis cannot see). A command sent on a cut connection fails; one whose reply a cut
 *   loses has run.
 * - Stalls need no event of their own: a queued message or reply is read at any later time.
 *   A pause is an event: nothing of B runs until it resumes (its timers neither).
 * - One subscriber connection per server, FIFO across channels (the non-sharded adapter).
 *   A connection is cut only while it is up and its server knows it; a server learns of a cut
 *   by a later error event, of a heal by a 'ready' event; the subscription comes back after.
 * - One socket, one room, removals are leaves of S from R; the local-changes record is kept
 *   exactly for that one pair (lc* below). The requests' ttl check is ideal: a request whose
 *   operation timed out is dropped.
 * - The attempt ids of registrations are a bit (takApplied): B has one registration on its way at
 *   a time, so the hand-over in Redis is either the one its last applied registration made or
 *   one it has not applied.
 * - Marks in B's gate carry one bit, "made while the registration now on its way was": the code's
 *   sequence numbers compared with gate.lastMark at check(). Standing.changes is a bit likewise.
 * - Messages a server ignores are not delivered to it (B's beats to A, A's to B, B's own 'up');
 *   B does not answer A's hello with a beat.
 * - Overflow of a bounded queue ends the run (`trunc`): a bound, not a behaviour; -DNO_TRUNC
 *   asserts that no run reaches it.
 *
 * Properties (assertions, each printing "Pn violated" first):
 *  P1 no false done for leave: once A confirmed "S left R", no broadcast to R that A sent after
 *     that reaches S, unless S joined R again (on B) since.
 *  P2 a join reported unreachable (B not counted on, and it did not answer) is never applied to S.
 *  P3 a broadcast A sent after a confirmed join reaches S, unless S left R on B since or was
 *     disconnected: the gate never drops it, no catch-up takes S out before it, and it is not
 *     lost for want of a subscription while B is a member that registered since its last cut.
 *  P4 a catch-up never undoes a change made on B after the removal was recorded (such a pair is
 *     a conflict: S is disconnected).
 *  P5 bounded liveness: within IDLEMAX idle seconds after the last fault and the last operation
 *     began, B is a member again (possibly after the last resort), A is one, A counts B as one,
 *     and A's operation has ended (confirmed or failed).
 *  P6 the last resort is taken only if B was fenced at some point (or gave up waiting for A after
 *     Redis lost the record): a full outage disconnects nothing.
 */

/* ---------- bounds, overridable with -D ---------- */
#ifndef NFENCE
#define NFENCE 2      /* fences of B by A */
#endif
#ifndef NCUT
#define NCUT 1        /* cuts of B's connections */
#endif
#ifndef NPAUSE
#define NPAUSE 1      /* pauses of B (nothing of B runs, its messages wait) */
#endif
#ifndef NDEAF
#define NDEAF 1       /* B holds on its own ("not heard itself for 2.5 s") */
#endif
#ifndef NRESTART
#define NRESTART 0    /* Redis restarts empty */
#endif
#ifndef NLOCAL
#define NLOCAL 1      /* changes of S's room on B itself */
#endif
#ifndef NTICK
#define NTICK 1       /* B's heartbeats at any moment (more fire when idle) */
#endif
#ifndef NTIMEOUT
#define NTIMEOUT 1    /* requests that time out at any moment (more do when idle) */
#endif
#ifndef TOIDLE
#define TOIDLE 3      /* a pending request times out after this many idle heartbeats at most */
#endif
#ifndef IDLEMAX
#define IDLEMAX 8
#endif
/* A's operations, in order (S is in R at the start, as after a confirmed join) */
#if defined(SCRIPT_LB)
#define NOPS 2
#define SCRIPT script[0] = OLEAVE; script[1] = OBC
#elif defined(SCRIPT_JB)
#define NOPS 3
#define SCRIPT script[0] = OLEAVE; script[1] = OJOIN; script[2] = OBC
#else
#define NOPS 4
#define SCRIPT script[0] = OLEAVE; script[1] = OBC; script[2] = OJOIN; script[3] = OBC
#endif


#ifndef QA
#define QA 12         /* A's subscriber queue */
#endif
#ifndef QB
#define QB 10         /* B's subscriber queue */
#endif
#ifndef QR
#define QR 4          /* replies on A's command connection */
#endif
#ifndef HMAX
#define HMAX 10       /* B's gate */
#endif
#define LCAP 3        /* B's catch-up log, its hand-over, a register reply's entries */

#define A 0
#define B 1

/* registry states */
#define RABS 0
#define RMEM 1        /* L */
#define RFEN 2        /* F */
#define RLOST 3       /* X */

/* a server's standing */
#define SMEMBER 0
#define SHOLD 1
#define SFENCED 2

/* A's view of B */
#define VMEM 0
#define VFEN 1
#define VABS 2

/* operations */
#define OLEAVE 1
#define OJOIN 2
#define OBC 3

/* phases of A's operation */
#define PWAIT 1       /* its request is pending */
#define PREC 2        /* the record script is on its way */
#define PDIRECT 3     /* B came back before the record: asked directly */

/* replies: t_g of a reply on A's command connection, and B's register reply */
#define RNONE 0
#define ROK 1
#define RERR 2

/* outcomes of the record and fence scripts */
#define OUTGEN 1
#define OUTABS 2
#define OUTMEM 3
#define OUTFEN 4      /* record: appended to the log; fence: fenced */
#define OUTALREADY 5
#define OUTLOSTX 6

#ifdef BUG_NO_ECHO_WAIT
#define NOECHO true
#else
#define NOECHO false
#endif

mtype = { FENCE, LOST, REQ, REPLY, BCAST, BEAT, HELLO, UP, MARK, ACK, RECR, FENR };

bool trunc;                    /* a bounded queue overflowed: the run ends here */
#define G(x) (!trunc && (x))

/* ---------- Redis ---------- */
byte reg[2];
byte gen = 1, genSeq = 1;      /* 0: no record (after a restart, until someone registers) */
byte logN;
byte logOp[LCAP];              /* B's catch-up log: the leave operations recorded for it */
byte takN;                     /* handover:B, the entries a registration of B took */
byte takOp[LCAP];
bool takApplied;               /* B's `applied` names the registration that made that hand-over */
bool pubUp[2], subUp[2], subscribed[2];
chan subA = [QA] of { mtype, byte, byte };
chan subB = [QB] of { mtype, byte, byte };
chan repA = [QR] of { mtype, byte, byte };

/* what a server believes of its connections, and the error / ready events it has yet to handle */
bool pubOk[2], subOk[2];
bool errPub[2], errSub[2], rdyPub[2], rdySub[2];

/* ---------- B ---------- */
byte bState;
byte bGen = 1;
bool bHears, bChecking, bReset;
bool bChanged;                       /* Standing.changes moved since the registration on its way was sent */
bool bMBdef, bMBwait, bMembersNow;   /* membersBefore: defined / still waiting for A */
bool bWaitOver;                      /* its waitUntil has passed */
bool bViewA = true;
bool bGateHolding;
byte gN;
mtype gT[HMAX];
byte gA[HMAX], gG[HMAX];             /* REQ: id, excluded; BCAST: ghost bits; MARK: -, made since the registration was sent */
byte bReg;                           /* its register reply: RNONE, ROK, RERR */
byte bRegGen, bRegPrev, bRegA, bEntN;
byte bEnt[LCAP];                     /* the catch-up entries that came with it */
bool Sconn = true, SinR = true;

/*
 * The local-changes record (local-changes.ts), exactly, for the one pair (S, R). A generation is
 * opened by each heartbeat sent while a member and by each check() (beatSent); beatEchoed(k) drops
 * the generations that ended before k (their successor started at or before k); release() calls
 * beatEchoed(the check's sentAt); the last resort clears it. For the latest touch of (S, R) that is:
 *   lcTouched   touched(S, R);
 *   lcClosed    a generation opened since the latest touch (beatEchoed(k) of a beat sent now drops it);
 *   lcLate      the latest touch came while the registration now on its way was (release() keeps it).
 * What the echo of one of B's own beats does, read while a member, is its third field, kept up to
 * date in flight: TDROP drops the latest touch, TKEEP does not. With BUG_ECHO_DROPS_OPEN (the old
 * beatEchoed: drops the generations before the first one stamped >= k) a probe also has TOPEN (no
 * touch then, no generation opened since) and TOPENT (touched in a generation still open then, none
 * opened since): it drops the latest touch once a generation opens after it, even one made later.
 */
#define TDROP 0
#define TOPEN 1
#define TKEEP 2
#define TOPENT 3
bool lcTouched, lcClosed, lcLate;

/* ---------- A ---------- */
byte aState;
byte aGen = 1;
bool aHears, aChecking, aMBdef, aMBwait, aMembersNow, aKnownFenced, aWaitOver;
byte aViewB;
bool aFencing;
bool aHelloSinceFence, aHelloSinceReg;   /* B said hello since A sent its fence / register (helloClock) */
bool aNoticeDue;                     /* BUG_NOTICE_OUTSIDE_SCRIPT: a notice still to publish */
byte aReg, aRegGen, aRegB;
byte script[NOPS];
byte opNext;                         /* operations started */
byte aOp;                            /* 1 + index of the current operation; 0: none */
byte aPhase;
byte aReq;                           /* pending request: 2 * aOp, + 1 when asked directly; 0: none */
bool aAwaitB, aPub, aRepB, aFound;
bool aNotCounted;                    /* B is in the request's notCountedOn: excluded when sent, or fenced while it waited (goOn) */
byte aAge;                           /* idle heartbeats its request has waited */

/* ---------- budgets, ghosts, temporaries ---------- */
byte nFence, nCut, nDeaf, nRestart, nLocal, nTick, nTimeout, nPause;
bool bPaused;
byte idle;
bool outSure;                        /* P1: A confirmed S left R, and S joined R nowhere since the leave began */
bool inSure = true;                  /* P3: S is in R by a confirmed join (or the start), no leave since */
bool opLocalJ, opLocalL;             /* S joined / left R on B itself during the current operation */
bool joinUnreach[NOPS + 1], joinApplied[NOPS + 1], opTimedOut[NOPS + 1];
bool recorded[NOPS + 1], touchAfterRec[NOPS + 1];
bool everFenced, bGaveUp;
bool bRegSinceCut = true;            /* B registered since its subscriber connection was last cut */

/* temporaries of one step: not part of the state */
hidden mtype t_t, w_t;
hidden byte t_a, t_g, w_a, w_g, w_n, gi, ci, k, r_n, r_i, r_c;
hidden byte r_after, r_mark, r_conflict, r_fenced, r_lost, r_rec;

#define opKind(op) script[(op) - 1]
#define bLink (pubOk[B] && subOk[B])
/*
 * When A may fence B: B's messages stop reaching Redis (its publisher is cut, or it sends no
 * heartbeat because it knows a connection is down) and, unless B is paused, B already holds:
 * a running server that does not hear itself holds within 2.5 s, before the others' 3.5 s expiry
 * (docs/partitions.md). A paused B may be fenced at any moment. -DUNTIMED_FENCE drops this.
 */
#ifdef UNTIMED_FENCE
#define bSilent true
#else
#define bSilent (bPaused || (bState != SMEMBER && (!pubUp[B] || !bLink)))
#endif
/* B runs (is not paused) */
#define GB(x) G(!bPaused && (x))
#define aLink (pubOk[A] && subOk[A])

/* ---------- publishing: runs at Redis, delivered to each subscriber in order ---------- */
inline toA(t, x, y) {
  if
  :: subscribed[A] && len(subA) < QA -> subA!t, x, y
  :: subscribed[A] && len(subA) >= QA -> trunc = true
  :: else -> skip
  fi
}
inline toB(t, x, y) {
  if
  :: subscribed[B] && len(subB) < QB -> subB!t, x, y
  :: subscribed[B] && len(subB) >= QB -> trunc = true
  :: else -> skip
  fi
}
inline repAput(t, x, y) {
  if
  :: len(repA) < QR -> repA!t, x, y
  :: else -> trunc = true
  fi
}
inline drainSub(q) {
  do
  :: nempty(q) -> q?_, _, _
  :: empty(q) -> break
  od;
  skip
}

/* ---------- P1 / P3 at delivery to S ---------- */
/* x: bit 0 "must not reach S" (outSure when sent, no join of S on B since), bit 1 "must reach S" (inSure, no leave on B since) */
inline deliverBC(x) {
  if
  :: Sconn && SinR && (x & 1) ->
     printf("P1 violated: a broadcast sent after a confirmed leave reached S\n"); assert(false)
  :: Sconn && !SinR && (x & 2) ->
     printf("P3 violated: a broadcast sent after a confirmed join missed S\n"); assert(false)
  :: else -> skip
  fi
}

/* ---------- B: the local-changes record ---------- */
/* a touch of (S, R): rewrites what is in flight to B, its own beats (what their echo does) and broadcasts (their ghost bits) */
inline lcTouch(bcClear) {
  lcTouched = true; lcClosed = false;
  if :: bChecking -> lcLate = true :: else -> skip fi;
  w_n = len(subB);
  do
  :: w_n > 0 -> subB?w_t, w_a, w_g;
     if
     :: w_t == BEAT && w_a == B && w_g == TDROP -> w_g = TKEEP
     :: w_t == BEAT && w_a == B && w_g == TOPEN -> w_g = TOPENT
     :: w_t == BCAST -> w_a = w_a & (3 - bcClear)
     :: else -> skip
     fi;
     subB!w_t, w_a, w_g; w_n--
  :: else -> break
  od;
  gi = 0;
  do
  :: gi < gN -> if :: gT[gi] == BCAST -> gA[gi] = gA[gi] & (3 - bcClear) :: else -> skip fi; gi++
  :: else -> break
  od;
  skip
}
/* beatSent(): a generation opens */
inline lcOpen() {
  lcClosed = lcTouched;
#ifdef BUG_ECHO_DROPS_OPEN
  w_n = len(subB);
  do
  :: w_n > 0 -> subB?w_t, w_a, w_g;
     if
     :: w_t == BEAT && w_a == B && w_g == TOPEN -> w_g = TKEEP
     :: w_t == BEAT && w_a == B && w_g == TOPENT -> w_g = TDROP
     :: else -> skip
     fi;
     subB!w_t, w_a, w_g; w_n--
  :: else -> break
  od;
#endif
  skip
}
/* what was recorded of (S, R) is dropped (or cleared) */
inline lcDrop() {
  lcTouched = false; lcClosed = false; lcLate = false
}
inline lcEchoed(y) {
  if :: y == TDROP -> lcDrop() :: else -> skip fi
}
/* the heartbeat: a member's opens a generation (even if its publish then fails) */
inline bHeartbeat() {
  if
  :: bState == SMEMBER -> lcOpen();
     if
     :: pubUp[B] && lcTouched -> toB(BEAT, B, TDROP)
     :: pubUp[B] && !lcTouched -> toB(BEAT, B, TKEEP)
     :: else -> skip
     fi
  :: else -> bProbe()
  fi
}
/* a probe (a beat sent while not a member, or a heartbeat then): opens no generation */
inline bProbe() {
  if
  :: !pubUp[B] -> skip
#ifdef BUG_ECHO_DROPS_OPEN
  :: pubUp[B] && lcTouched -> toB(BEAT, B, TOPENT)
  :: pubUp[B] && !lcTouched -> toB(BEAT, B, TOPEN)
#else
  :: pubUp[B] && lcTouched && lcClosed -> toB(BEAT, B, TDROP)
  :: pubUp[B] && !(lcTouched && lcClosed) -> toB(BEAT, B, TKEEP)
#endif
  fi
}
inline bPublish(t) {
  if
  :: pubUp[B] -> toB(t, B, 0); toA(t, B, 0)
  :: else -> skip
  fi
}

/* ---------- B: a request of A (node.ts handleRequest, answer.ts) ---------- */
/* x: request id; y: 1 if it names B among the servers its sender counts as fenced (excluded) */
inline bHandleRequest(x, y, answer) {
  if
  :: opTimedOut[x / 2] -> skip              /* ttl: its sender gave up on it */
#ifndef BUG_APPLY_EXCLUDED
  :: !opTimedOut[x / 2] && y -> skip        /* excluded: a join did not reach it, a removal is recorded for it */
#endif
  :: else ->
     if
     :: Sconn && opKind(x / 2) == OJOIN ->
        SinR = true; joinApplied[x / 2] = true;
        if
        :: joinUnreach[x / 2] -> printf("P2 violated: a join reported unreachable was applied to S\n"); assert(false)
        :: else -> skip
        fi
     :: Sconn && opKind(x / 2) == OLEAVE -> SinR = false
     :: else -> skip
     fi;
     if
     :: answer && pubUp[B] -> toA(REPLY, x, Sconn)
     :: else -> skip
     fi
  fi
}

/* ---------- B: the catch-up (catch-up.ts) ---------- */
inline bCatchUp() {
  printf("B: catch-up, %d entries, touched %d\n", bEntN, lcTouched);
  ci = 0;
  do
  :: ci < bEntN ->
     if
     :: Sconn && SinR && lcTouched -> r_conflict = true
     :: Sconn && SinR && !lcTouched ->
        if
        :: touchAfterRec[bEnt[ci]] -> printf("P4 violated: the catch-up undid a change made on B after the removal\n"); assert(false)
        :: else -> skip
        fi;
        SinR = false
     :: else -> skip
     fi;
     bEnt[ci] = 0; ci++
  :: else -> break
  od;
  bEntN = 0;
  if
  :: r_conflict -> Sconn = false; r_conflict = false
  :: else -> skip
  fi
}

/*
 * ---------- B: gate.release(fenced, handle, untilAfterMark) ----------
 * partial: stops at the first mark made after the registration was sent (releaseUntil()), and
 * keeps holding from there; otherwise everything. fenced: the catch-up goes at the first mark let
 * through, or first; requests after a mark are dropped. answer: requests let through are answered.
 */
inline bGateRelease(fenced, partial, answer) {
  r_c = gN;
  if
  :: partial -> gi = 0; do :: gi < gN && !(gT[gi] == MARK && gG[gi]) -> gi++ :: else -> break od; r_c = gi
  :: else -> skip
  fi;
  gi = 0;
  do :: gi < r_c && gT[gi] != MARK -> gi++ :: else -> break od;
  r_mark = (gi < r_c);
  if :: r_mark -> r_i = gi + 1 :: else -> r_i = 0 fi;
#ifdef BUG_RELEASE_BEFORE_CATCHUP
  r_i = r_c;                                /* after everything let through */
#endif
  r_after = (fenced) && !r_mark;
  gi = 0;
  do
  :: gi <= r_c ->
     if :: (fenced) && gi == r_i -> bCatchUp() :: else -> skip fi;
     if
     :: gi < r_c && gT[gi] == MARK -> r_after = (fenced)
     :: gi < r_c && gT[gi] == REQ -> if :: !r_after -> bHandleRequest(gA[gi], gG[gi], answer) :: else -> skip fi
     :: gi < r_c && gT[gi] == BCAST -> deliverBC(gA[gi])
     :: else -> skip
     fi;
     gi++
  :: else -> break
  od;
  /* what is left, from the stop on */
  gi = 0;
  do :: gi + r_c < gN -> gT[gi] = gT[gi + r_c]; gA[gi] = gA[gi + r_c]; gG[gi] = gG[gi + r_c]; gi++ :: else -> break od;
  do :: gi < gN -> gT[gi] = 0; gA[gi] = 0; gG[gi] = 0; gi++ :: else -> break od;
  gN = gN - r_c
}
inline gateClear() {
  gi = 0;
  do :: gi < gN -> gT[gi] = 0; gA[gi] = 0; gG[gi] = 0; gi++ :: else -> break od;
  gN = 0
}
inline gatePush(t, x, y) {
  if
  :: gN < HMAX -> gT[gN] = t; gA[gN] = x; gG[gN] = y; gN++
  :: else -> trunc = true
  fi
}
/* gate.mark(): this server's fence notice read, or its subscriber lost */
inline gateMark() {
  gatePush(MARK, 0, bChecking); bGateHolding = true
}
/* after a registration's reply: no mark is newer than the next one */
inline marksOld() {
  gi = 0;
  do :: gi < gN -> if :: gT[gi] == MARK -> gG[gi] = 0 :: else -> skip fi; gi++ :: else -> break od;
  skip
}

inline entClear() {
  ci = 0;
  do :: ci < bEntN -> bEnt[ci] = 0; ci++ :: else -> break od;
  bEntN = 0
}

/* ---------- B: standing.ts ---------- */
/* lastResort(): what is common to both kinds; `registered` ones then release(), the others hold and probe */
inline bLastResort() {
  if
  :: !everFenced && !bGaveUp -> printf("P6 violated: last resort without a fence\n"); assert(false)
  :: else -> skip
  fi;
  printf("B: last resort, S disconnected\n");
  Sconn = false;
  gateClear(); bGateHolding = false;        /* gate.drop() */
  lcDrop();                                 /* local.clear(now) */
  bReset = true; bMBdef = false; bMBwait = false; bWaitOver = false
}

inline bHold() {
  if
  :: bState == SMEMBER ->
     bState = SHOLD; bHears = false; bGateHolding = true;
     if :: bLink -> bProbe() :: else -> skip fi
  :: else -> skip
  fi
}

/* what may change B's record after a registration was sent: counted (Standing.changes) */
inline bChange() {
  if :: bChecking -> bChanged = true :: else -> skip fi
}

/* check(): registers (the register script runs at Redis now; its reply comes later) */
inline bCheck() {
  if
  :: !bChecking && bState != SMEMBER && (bHears || NOECHO) && bLink ->
     bChecking = true; bChanged = false; bMembersNow = bViewA;
     lcOpen(); lcLate = false;              /* local.beatSent(sentAt) */
     if
     :: pubUp[B] ->
        if :: gen == 0 -> genSeq++; gen = genSeq :: else -> skip fi;
        bRegGen = gen; bRegPrev = reg[B]; bRegA = reg[A]; bEntN = 0;
#ifdef BUG_HANDOVER_DELETED
        /* the log is handed over and deleted in the same step */
        if
        :: reg[B] == RFEN -> k = 0; do :: k < logN -> bEnt[k] = logOp[k]; k++ :: else -> break od; bEntN = logN
        :: else -> skip
        fi;
#else
        /* the hand-over of a registration it did not apply, then its log if it was fenced */
        if
        :: takN > 0 && !takApplied -> k = 0; do :: k < takN -> bEnt[k] = takOp[k]; k++ :: else -> break od; bEntN = takN
        :: else -> skip
        fi;
        if
        :: reg[B] == RFEN ->
           k = 0;
           do
           :: k < logN && bEntN < LCAP -> bEnt[bEntN] = logOp[k]; bEntN++; k++
           :: k < logN && bEntN >= LCAP -> trunc = true; break
           :: else -> break
           od
        :: else -> skip
        fi;
        /* kept, handed over to this registration, until the next one says it applied it */
        k = 0; do :: k < LCAP -> takOp[k] = bEnt[k]; k++ :: else -> break od;
        takN = bEntN; takApplied = false;
#endif
        k = 0; do :: k < logN -> logOp[k] = 0; k++ :: else -> break od;
        logN = 0; reg[B] = RMEM;
        bRegSinceCut = true;
        bReg = ROK
     :: else -> bReg = RERR
     fi
  :: else -> skip
  fi
}

/* the registration's reply was acted upon: it names its hand-over as applied */
inline bApplied() {
  if :: takN > 0 -> takApplied = true :: else -> skip fi
}

inline bFenceNotice() {
  bHold();
  gateMark();
#ifndef BUG_NOTICE_NOT_COUNTED
  bChange();
#endif
  bHears = true; bState = SFENCED;
  bCheck()
}

inline bLostNotice() {
  bHold();
#ifndef BUG_LOST_NOT_COUNTED
  bChange();
#endif
  bLastResort(); bGateHolding = true;
  if :: bLink -> bProbe() :: else -> skip fi
}

inline bOwnEcho(t, y) {
  if :: bState != SMEMBER && !bHears -> bHears = true; bCheck() :: else -> skip fi;
  if :: t == HELLO && pubUp[B] -> toA(UP, B, 0) :: else -> skip fi;   /* its hello came back: 'up' (its own echo of it left out) */
  if :: t == BEAT && bState == SMEMBER -> lcEchoed(y) :: else -> skip fi
}

/* link.onReady, once both connections are up */
inline bOnReady() {
  if
#ifdef BUG_HELLO_ON_RECONNECT
  :: bLink && bState == SMEMBER -> bPublish(HELLO)     /* heardFromEveryoneNow(), hello */
#else
  /* the others may have fenced it meanwhile: it holds and checks before it says hello */
  :: bLink && bState == SMEMBER -> bHold(); bHears = false
#endif
  :: bLink && bState != SMEMBER ->
     bHears = false; bProbe();                                 /* standing.linkReady() */
     if :: NOECHO -> bCheck() :: else -> skip fi
  :: else -> skip
  fi
}

/* a heartbeat: standing.tick(), then the beat */
inline bTick() {
  if
  :: bState == SMEMBER && !bLink -> bHold()
  :: bState != SMEMBER -> bCheck()
  :: else -> skip
  fi;
  if :: bLink -> bHeartbeat() :: else -> skip fi
}

/* release(): member again */
inline bBecomeMember() {
  bState = SMEMBER; bReset = false; bGateHolding = false;
#ifdef BUG_CLEAR_ON_RELEASE
  lcDrop();                                 /* local.clear() */
#else
  /* local.beatEchoed(sentAt): what was changed before the registration was sent is known */
  if :: !lcLate -> lcDrop() :: else -> skip fi;
#endif
  bPublish(HELLO)                           /* becameMember */
}

/* the register reply: the rest of check(). r_n: what it comes to */
#define DONOTHING 0      /* asked again on the next heartbeat */
#define DORELEASE 1      /* release() */
#define DOLASTRESORT 2   /* lastResort(registered), which releases */
#define DOUNTIL 3        /* overtaken: releaseUntil(), check() again */
inline bOnRegistered() {
  bChecking = false;
  r_n = DONOTHING;
  r_lost = (bGen != bRegGen); bGen = bRegGen;
  if :: r_lost -> bMBdef = true; bMBwait = bMembersNow; bWaitOver = false :: else -> skip fi;
  if                                                        /* peers.syncWith */
  :: bRegA == RMEM -> bViewA = true
  :: bRegA == RFEN || bRegA == RLOST -> bViewA = false
  :: bRegA == RABS && !bMBdef -> bViewA = false
  :: else -> skip
  fi;
  r_fenced = (bEntN > 0 || bRegPrev == RFEN);
  if
  :: bReset ->
     /* after the last resort nothing to catch up; a reply older than a newer change is not trusted */
     r_fenced = false;
#ifdef BUG_RESET_TRUSTS_REPLY
     r_n = DORELEASE
#else
     if :: bChanged -> r_n = DOUNTIL :: else -> r_n = DORELEASE fi
#endif
  :: !bReset && (bRegPrev == RLOST || (r_lost && bState == SFENCED) || (bRegPrev == RABS && !bMBdef)) -> r_n = DOLASTRESORT
  :: else ->
     if
     :: bChanged -> r_n = DOUNTIL
     :: !bChanged && bMBdef && r_fenced -> r_n = DOLASTRESORT
     :: !bChanged && bMBdef && !r_fenced ->
        if :: bRegA == RMEM -> bMBwait = false :: else -> skip fi;
        if
        :: !bMBwait -> bMBdef = false; r_n = DORELEASE
        :: bMBwait && bWaitOver -> bGaveUp = true; r_n = DOLASTRESORT
        :: else -> skip
        fi
     :: !bChanged && !bMBdef -> r_n = DORELEASE
     fi
  fi;
  if :: r_n == DOLASTRESORT -> bLastResort(); r_n = DORELEASE; r_fenced = false :: else -> skip fi;
  if
  :: r_n == DORELEASE ->
     if :: r_fenced -> bState = SFENCED :: else -> skip fi;
     bGateRelease(r_fenced, false, !r_fenced); bApplied(); bBecomeMember()
  :: r_n == DOUNTIL ->
     if :: r_fenced -> bState = SFENCED :: else -> skip fi;
     bGateRelease(r_fenced, true, false); bApplied(); bGateHolding = true
  :: else -> skip
  fi;
  entClear();
  bRegGen = 0; bRegPrev = 0; bRegA = 0; bMembersNow = false; bChanged = false; lcLate = false; marksOld();
  if :: r_n == DOUNTIL -> bCheck() :: else -> skip fi
}

/* ---------- A ---------- */
inline aOpEnd(ok) {
  printf("A: operation %d ends, ok %d\n", aOp, ok);
  if :: ok && opKind(aOp) == OLEAVE -> outSure = !opLocalJ :: else -> skip fi;
  aOp = 0; aReq = 0; aPhase = 0; aAge = 0; aAwaitB = false; aNotCounted = false; aPub = false; aRepB = false; aFound = false;
  opLocalJ = false; opLocalL = false
}
inline aConfirm() {
  if :: opKind(aOp) == OJOIN && aFound -> inSure = !opLocalL :: else -> skip fi;
  aOpEnd(true)
}
/* peers.heardFrom(B, registered): a hello, read after what the record said when asked */
inline aHello() {
  aViewB = VMEM;
  if :: aFencing -> aHelloSinceFence = true :: else -> skip fi;
  if :: aChecking -> aHelloSinceReg = true :: else -> skip fi
}

/* ask(): x request id (odd: asked directly), y whether B is awaited */
inline aAsk(x, y) {
  if
  :: !aLink || aState != SMEMBER -> aOpEnd(false)
  :: else ->
     aReq = x; aAwaitB = y; aPub = false; aRepB = false; aFound = false; aAge = 0;
     /* a broadcast request names the servers A counts as fenced: it does not count on them */
     aNotCounted = ((x) % 2 == 0 && aViewB == VFEN);
     if :: (x) % 2 == 1 -> aPhase = PDIRECT :: else -> aPhase = PWAIT fi;
     if
     :: pubUp[A] -> toB(REQ, x, aNotCounted); repAput(ACK, x, ROK)
     :: else -> repAput(ACK, x, RERR)
     fi
  fi
}

inline aRecord() {
  aPhase = PREC; printf("A: record script for op %d (B is %d)\n", aOp, reg[B]);
  if
  :: !pubUp[A] -> repAput(RECR, 0, RERR)
  :: pubUp[A] && gen != aGen -> repAput(RECR, OUTGEN, ROK)
  :: pubUp[A] && gen == aGen && reg[B] == RABS -> repAput(RECR, OUTABS, ROK)
  :: pubUp[A] && gen == aGen && reg[B] == RMEM ->
#ifdef BUG_RECORD_UNCONDITIONAL
     if :: logN < LCAP -> logOp[logN] = aOp; logN++ :: else -> trunc = true fi;
     recorded[aOp] = true; touchAfterRec[aOp] = false;
     repAput(RECR, OUTFEN, ROK)
#else
     repAput(RECR, OUTMEM, ROK)
#endif
  :: pubUp[A] && gen == aGen && reg[B] == RFEN ->
     if :: logN < LCAP -> logOp[logN] = aOp; logN++ :: else -> trunc = true fi;
     recorded[aOp] = true; touchAfterRec[aOp] = false;
     repAput(RECR, OUTFEN, ROK)
  :: pubUp[A] && gen == aGen && reg[B] == RLOST -> repAput(RECR, OUTLOSTX, ROK)
  fi
}

inline aCheckDone() {
  if
  :: aReq != 0 && (aFound || (aPub && (!aAwaitB || aRepB))) -> aSettle()
  :: else -> skip
  fi
}

/*
 * The request is done: settle() (notCountedOn: B if it was not counted on and did not answer),
 * then sendChange's callback, confirmedWithout(); the direct ask's callback calls it again with
 * what that ask did not count on.
 */
inline aSettle() {
  aReq = 0;
  r_rec = aNotCounted && !aRepB && !aFound;
#ifdef BUG_COUNT_AT_END
  /* the servers A counts as fenced when the request ends, less those that answered */
  if :: aPhase != PDIRECT -> r_rec = (aViewB == VFEN && !aRepB && !aFound) :: else -> skip fi;
#endif
#ifdef BUG_DIRECT_NOT_RECORDED
  if :: aPhase == PDIRECT -> r_rec = false :: else -> skip fi;   /* the direct ask's callback just answers */
#endif
  if
  :: !r_rec -> aConfirm()
  :: r_rec && opKind(aOp) == OJOIN ->
     joinUnreach[aOp] = true;
     if
     :: joinApplied[aOp] -> printf("P2 violated: a join reported unreachable was applied to S\n"); assert(false)
     :: else -> skip
     fi;
     aOpEnd(true)
  :: r_rec && opKind(aOp) == OLEAVE -> aRecord()
  fi
}

/* requests.peerFenced(B) after markFenced(B): a removal goes on without it, a join waits */
inline aOnFenced() {
  aViewB = VFEN;
  if
  :: aReq != 0 && aAwaitB && !aRepB && opKind(aOp) == OLEAVE -> aAwaitB = false; aNotCounted = true; aCheckDone()
  :: else -> skip
  fi
}

inline aBeat() {
  if :: pubUp[A] -> toA(BEAT, A, 0) :: else -> skip fi
}
inline aHold() {
  if
  :: aState == SMEMBER -> aState = SHOLD; aHears = false; if :: aLink -> aBeat() :: else -> skip fi
  :: else -> skip
  fi
}
inline aRelease() {
  aState = SMEMBER;
  if :: pubUp[A] -> toB(HELLO, A, 0) :: else -> skip fi
}
inline aCheck() {
  if
  :: !aChecking && aState != SMEMBER && aHears && aLink ->
     aChecking = true; aMembersNow = (aViewB == VMEM); aKnownFenced = (aViewB == VFEN); aHelloSinceReg = false;
     if
     :: pubUp[A] ->
        if :: gen == 0 -> genSeq++; gen = genSeq :: else -> skip fi;
        if
        :: gen != aGen && aKnownFenced -> reg[B] = RLOST; everFenced = true; toA(LOST, B, 0); toB(LOST, B, 0)
        :: else -> skip
        fi;
        aRegGen = gen; reg[A] = RMEM; aRegB = reg[B]; aReg = ROK
     :: else -> aReg = RERR
     fi
  :: else -> skip
  fi
}
inline aOwnEcho() {
  if :: aState != SMEMBER && !aHears -> aHears = true; aCheck() :: else -> skip fi
}
inline aOnRegistered() {
  aChecking = false;
  if
  :: aState != SMEMBER ->
     r_lost = (aGen != aRegGen); aGen = aRegGen;
     if :: r_lost -> aMBdef = true; aMBwait = aMembersNow; aWaitOver = false :: else -> skip fi;
     if                                                     /* peers.syncWith(..., helloClock at check()) */
     :: aRegB == RMEM && aViewB != VMEM -> aViewB = VMEM; if :: aFencing -> aHelloSinceFence = true :: else -> skip fi
#ifdef BUG_STALE_FENCED
     :: aRegB == RFEN || aRegB == RLOST -> aViewB = VFEN
#else
     :: (aRegB == RFEN || aRegB == RLOST) && !aHelloSinceReg -> aViewB = VFEN
#endif
     :: aRegB == RABS && !aMBdef -> aViewB = VABS
     :: else -> skip
     fi;
     if
     :: aMBdef ->
        if :: aRegB == RMEM -> aMBwait = false :: else -> skip fi;
        if
        :: !aMBwait -> aMBdef = false; aRelease()
        :: aMBwait && aWaitOver -> aMBdef = false; aMBwait = false; aWaitOver = false; aRelease()   /* gives up: its last resort */
        :: else -> skip
        fi
     :: else -> aRelease()      /* A holds no socket: its last resort is a release too */
     fi
  :: else -> skip
  fi;
  aHelloSinceReg = false
}
inline aTick() {
  if
  :: aState == SMEMBER && !aLink -> aHold()
  :: aState != SMEMBER -> aCheck()
  :: else -> skip
  fi;
  if :: aLink && aState != SMEMBER -> aBeat() :: else -> skip fi
}

/* ---------- connections ---------- */
inline cutSub(s) {
  subUp[s] = false; subscribed[s] = false; errSub[s] = true;
  if :: s == A -> drainSub(subA) :: else -> drainSub(subB); bRegSinceCut = false fi
}
inline cutPub(s) {
  pubUp[s] = false; errPub[s] = true;
  if
  :: s == A -> r_n = len(repA);           /* the replies on their way are lost: errors */
     do :: r_n > 0 -> repA?t_t, t_a, t_g; repA!t_t, t_a, RERR; r_n-- :: else -> break od;
     if :: aReg == ROK -> aReg = RERR :: else -> skip fi
  :: else -> if :: bReg == ROK -> bReg = RERR :: else -> skip fi
  fi
}

/* recovered: both members, A counts B as one, A's operation over */
#define goal (bState == SMEMBER && aState == SMEMBER && aViewB == VMEM && aOp == 0)

active proctype world() {
  d_step {
    SCRIPT;
    reg[A] = RMEM; reg[B] = RMEM;
    pubUp[A] = true; subUp[A] = true; subscribed[A] = true; pubOk[A] = true; subOk[A] = true;
    pubUp[B] = true; subUp[B] = true; subscribed[B] = true; pubOk[B] = true; subOk[B] = true
  };
  do
  /* ---- B reads its subscriber connection ---- */
  :: d_step { GB(nempty(subB)) -> subB?t_t, t_a, t_g; printf("B reads %e(%d,%d)  [B %d gate %d S conn %d inR %d]\n", t_t, t_a, t_g, bState, gN, Sconn, SinR);
       if
       :: (t_t == BEAT || t_t == HELLO || t_t == UP) && t_a == B -> bOwnEcho(t_t, t_g)
       :: t_t == HELLO && t_a == A -> bViewA = true
       :: t_t == FENCE -> bFenceNotice()
       :: t_t == LOST -> bLostNotice()
       :: t_t == REQ && bGateHolding -> gatePush(REQ, t_a, t_g)
       :: t_t == REQ && !bGateHolding -> bHandleRequest(t_a, t_g, true)
#ifdef BUG_DROP_HELD
       :: t_t == BCAST && bGateHolding ->
          if
          :: Sconn && (t_a & 2) -> printf("P3 violated: the gate dropped a broadcast S must get\n"); assert(false)
          :: else -> skip
          fi
#else
       :: t_t == BCAST && bGateHolding -> gatePush(BCAST, t_a, 0)
#endif
       :: t_t == BCAST && !bGateHolding -> deliverBC(t_a)
       :: else -> skip
       fi }
  /* ---- B's register reply ---- */
  :: d_step { GB(bReg == RERR) -> printf("B: register failed\n"); bReg = RNONE; bChecking = false;
       bRegGen = 0; bRegPrev = 0; bRegA = 0; bMembersNow = false; entClear(); bChanged = false; lcLate = false; marksOld() }
  :: d_step { GB(bReg == ROK) -> printf("B: register reply: previous %d, %d entries, gen %d (knew %d), changed %d\n", bRegPrev, bEntN, bRegGen, bGen, bChanged); bReg = RNONE; bOnRegistered() }
  /* ---- B's connection events ---- */
  :: d_step { GB(errSub[B] && !rdySub[B]) -> printf("B: subscriber connection lost (error)\n"); errSub[B] = false; subOk[B] = false;
       bHold();
#ifndef BUG_CUT_NOT_MARKED
       /* standing.subscriberLost(): a fence notice sent meanwhile is lost with it */
       gateMark(); bChange(); bHears = false;
#endif
       skip }
  :: d_step { GB(errPub[B] && !rdyPub[B]) -> printf("B: publisher connection lost (error)\n"); errPub[B] = false; pubOk[B] = false }
  :: d_step { GB(rdySub[B]) -> printf("B: subscriber ready\n"); rdySub[B] = false; subOk[B] = true; bOnReady() }
  :: d_step { GB(rdyPub[B]) -> printf("B: publisher ready\n"); rdyPub[B] = false; pubOk[B] = true; bOnReady() }
  /* ---- B's heartbeats at any moment (budget), and its own deafness ---- */
  :: d_step { GB(nTick < NTICK) -> printf("B: heartbeat\n"); nTick++; bTick() }
  :: d_step { GB(nDeaf < NDEAF && bState == SMEMBER && bLink) -> printf("B: deaf, holds\n"); nDeaf++; idle = 0; bHold() }
  /* ---- a change of S's room on B itself (recorded at the adapter) ---- */
  :: d_step { GB(nLocal < NLOCAL && Sconn) -> printf("B: local change of S in R (was %d)\n", SinR); nLocal++; idle = 0;
       if
       :: SinR -> SinR = false; inSure = false; opLocalL = (aOp != 0); lcTouch(2)
       :: else -> SinR = true; outSure = false; opLocalJ = (aOp != 0); lcTouch(1)
       fi;
       k = 1; do :: k <= NOPS -> if :: recorded[k] -> touchAfterRec[k] = true :: else -> skip fi; k++ :: else -> break od; skip }

  /* ---- A reads its subscriber connection ---- */
  :: d_step { G(nempty(subA)) -> subA?t_t, t_a, t_g; printf("A reads %e(%d,%d)  [A view of B %d, op %d req %d]\n", t_t, t_a, t_g, aViewB, aOp, aReq);
       if
       :: t_t == REPLY && aReq == t_a && !aRepB -> aRepB = true; aFound = aFound || t_g; aCheckDone()
       :: t_t == FENCE -> aOwnEcho(); aOnFenced()           /* A's own notice, in order */
       :: t_t == LOST || t_t == BEAT -> aOwnEcho()
       :: t_t == HELLO -> aHello()
       :: t_t == UP && aViewB == VMEM && aReq != 0 && aAwaitB && !aRepB ->
          if :: pubUp[A] -> toB(REQ, aReq, 0) :: else -> skip fi   /* peerResubscribed: sent again (it was not excluded: awaited) */
       :: else -> skip
       fi }
  /* ---- A's command replies ---- */
  :: d_step { G(nempty(repA)) -> repA?t_t, t_a, t_g; printf("A: reply %e(%d,%d)  [op %d req %d]\n", t_t, t_a, t_g, aOp, aReq);
       if
       :: t_t == ACK && aReq == t_a && t_g == ROK -> aPub = true; aCheckDone()
       :: t_t == ACK && aReq == t_a && t_g != ROK -> aOpEnd(false)
       :: t_t == RECR && t_g != ROK -> aOpEnd(false)
       :: t_t == RECR && t_g == ROK && t_a == OUTGEN -> aHold(); aOpEnd(false)
       :: t_t == RECR && t_g == ROK && t_a == OUTABS -> aViewB = VABS; aOpEnd(true)
       :: t_t == RECR && t_g == ROK && (t_a == OUTFEN || t_a == OUTLOSTX) -> aOpEnd(true)
       :: t_t == RECR && t_g == ROK && t_a == OUTMEM -> aHello(); aAsk(aOp * 2 + 1, true)   /* heardFrom(B, true), asked directly */
       :: t_t == FENR ->
          if
          :: t_g != ROK -> skip
#ifdef BUG_STALE_FENCED
          :: t_g == ROK && t_a == OUTALREADY -> aOnFenced()
#else
          /* markFenced(B, since): not if B's hello was read since the script was sent */
          :: t_g == ROK && t_a == OUTALREADY && !aHelloSinceFence -> aOnFenced()
#endif
          :: t_g == ROK && t_a == OUTABS -> aViewB = VABS;
             if :: aReq != 0 && aAwaitB -> aAwaitB = false; aCheckDone() :: else -> skip fi   /* peerLeft */
          :: t_g == ROK && t_a == OUTGEN -> aHold()
#ifdef BUG_NOTICE_OUTSIDE_SCRIPT
          :: t_g == ROK && t_a == OUTFEN -> aOnFenced(); aNoticeDue = true
#endif
          :: else -> skip
          fi;
          aFencing = false; aHelloSinceFence = false
       :: else -> skip
       fi }
  /* ---- A's register reply ---- */
  :: d_step { G(aReg == RERR) -> printf("A: register failed\n"); aReg = RNONE; aChecking = false; aHelloSinceReg = false;
       aRegGen = 0; aRegB = 0; aMembersNow = false; aKnownFenced = false }
  :: d_step { G(aReg == ROK) -> printf("A: register reply, B is %d\n", aRegB); aReg = RNONE; aOnRegistered();
       aRegGen = 0; aRegB = 0; aMembersNow = false; aKnownFenced = false }
  /* ---- A's client: the next operation ---- */
  :: d_step { G(aOp == 0 && opNext < NOPS) -> idle = 0; opNext++; aOp = opNext; printf("A: operation %d (kind %d) starts, view of B %d\n", aOp, opKind(aOp), aViewB);
       if
       :: opKind(aOp) == OBC ->
          t_a = outSure + 2 * inSure;
          if
          :: pubUp[A] && !subscribed[B] && Sconn && inSure && bRegSinceCut && reg[B] == RMEM ->
             printf("P3 violated: a broadcast S must get was lost: B registered but is not subscribed\n"); assert(false)
          :: pubUp[A] -> toB(BCAST, t_a, 0)
          :: else -> skip
          fi;
          aOp = 0
       :: opKind(aOp) == OJOIN -> outSure = false; aAsk(aOp * 2, aViewB == VMEM)
       :: opKind(aOp) == OLEAVE -> inSure = false; aAsk(aOp * 2, aViewB == VMEM)
       fi }
  /* ---- A's request times out ---- */
  :: d_step { G(aReq != 0 && nTimeout < NTIMEOUT) -> nTimeout++; printf("A: request %d times out\n", aReq); opTimedOut[aOp] = true; aOpEnd(false) }
  /* ---- A fences B (B silent for long enough, as far as A knows) ---- */
  :: d_step { G(nFence < NFENCE && aState == SMEMBER && aLink && aViewB == VMEM && !aFencing && bSilent) ->
       printf("A: fence script for B (B is %d)\n", reg[B]); nFence++; idle = 0; aFencing = true; aHelloSinceFence = false;
       if
       :: !pubUp[A] -> repAput(FENR, 0, RERR)
       :: pubUp[A] && gen != aGen -> repAput(FENR, OUTGEN, ROK)
       :: pubUp[A] && gen == aGen && reg[B] == RABS -> repAput(FENR, OUTABS, ROK)
       :: pubUp[A] && gen == aGen && (reg[B] == RFEN || reg[B] == RLOST) -> repAput(FENR, OUTALREADY, ROK)
       :: pubUp[A] && gen == aGen && reg[B] == RMEM ->
          reg[B] = RFEN; everFenced = true;
#ifndef BUG_NOTICE_OUTSIDE_SCRIPT
          toA(FENCE, B, 0); toB(FENCE, B, 0);
#endif
          repAput(FENR, OUTFEN, ROK)
       fi }
#ifdef BUG_NOTICE_OUTSIDE_SCRIPT
  :: d_step { G(aNoticeDue) -> printf("A: publishes the fence notice\n"); aNoticeDue = false; if :: pubUp[A] -> toA(FENCE, B, 0); toB(FENCE, B, 0) :: else -> skip fi }
#endif
  /* ---- A's connection events (Redis restarts only) ---- */
  :: d_step { G(errSub[A] && !rdySub[A]) -> printf("A: subscriber connection lost\n"); errSub[A] = false; subOk[A] = false; aHold();
       if :: aReq != 0 -> aOpEnd(false) :: else -> skip fi }     /* requests.failAll */
  :: d_step { G(errPub[A] && !rdyPub[A]) -> printf("A: publisher connection lost\n"); errPub[A] = false; pubOk[A] = false }
  :: d_step { G(rdySub[A] || rdyPub[A]) -> printf("A: a connection ready\n");
       if :: rdySub[A] -> rdySub[A] = false; subOk[A] = true :: else -> rdyPub[A] = false; pubOk[A] = true fi;
       if
       :: aLink && aState != SMEMBER -> aHears = false; aBeat()
       :: aLink && aState == SMEMBER -> if :: pubUp[A] -> toB(HELLO, A, 0) :: else -> skip fi
       :: else -> skip
       fi }

  /* ---- faults ---- */
  :: d_step { G(nPause < NPAUSE && !bPaused) -> printf("B paused\n"); nPause++; idle = 0; bPaused = true }
  :: d_step { G(bPaused) -> printf("B resumes\n"); bPaused = false }
  :: d_step { G(nCut < NCUT && subUp[B] && subOk[B] && !errSub[B] && !rdySub[B]) -> printf("Redis: B's subscriber connection cut\n"); nCut++; idle = 0; cutSub(B) }
  :: d_step { G(nCut < NCUT && pubUp[B] && pubOk[B] && !errPub[B] && !rdyPub[B]) -> printf("Redis: B's publisher connection cut\n"); nCut++; idle = 0; cutPub(B) }
  :: d_step { G(nCut < NCUT && subUp[B] && subOk[B] && !errSub[B] && !rdySub[B] && pubUp[B] && pubOk[B] && !errPub[B] && !rdyPub[B]) ->
       printf("Redis: both of B's connections cut\n"); nCut++; idle = 0; cutSub(B); cutPub(B) }
  :: d_step { G(nRestart < NRESTART) -> printf("Redis restarts empty\n"); nRestart++; idle = 0;
       reg[A] = RABS; reg[B] = RABS; gen = 0;
       k = 0; do :: k < LCAP -> logOp[k] = 0; takOp[k] = 0; k++ :: else -> break od; logN = 0; takN = 0; takApplied = false;
       if :: subUp[A] -> cutSub(A) :: else -> skip fi;
       if :: pubUp[A] -> cutPub(A) :: else -> skip fi;
       if :: subUp[B] -> cutSub(B) :: else -> skip fi;
       if :: pubUp[B] -> cutPub(B) :: else -> skip fi }
  /* ---- heals: a connection comes back once its server saw it fail; the subscription follows ---- */
  :: d_step { G(!subUp[B] && !errSub[B] && !subOk[B]) -> printf("Redis: B's subscriber reconnects\n"); subUp[B] = true; rdySub[B] = true }
  :: d_step { G(!pubUp[B] && !errPub[B] && !pubOk[B]) -> printf("Redis: B's publisher reconnects\n"); pubUp[B] = true; rdyPub[B] = true }
  :: d_step { G(subUp[B] && !subscribed[B]) -> printf("Redis: B subscribed again\n"); subscribed[B] = true }
  :: d_step { G(!subUp[A] && !errSub[A] && !subOk[A]) -> printf("Redis: A's subscriber reconnects\n"); subUp[A] = true; rdySub[A] = true }
  :: d_step { G(!pubUp[A] && !errPub[A] && !pubOk[A]) -> printf("Redis: A's publisher reconnects\n"); pubUp[A] = true; rdyPub[A] = true }
  :: d_step { G(subUp[A] && !subscribed[A]) -> printf("Redis: A subscribed again\n"); subscribed[A] = true }

  /* ---- nothing else can happen: time passes ---- */
  :: timeout ->
     if
     :: trunc || goal -> break
     :: else ->
        idle++;
        if
        :: idle > IDLEMAX -> printf("P5 violated: no recovery within IDLEMAX timer events\n"); assert(false)
        :: else -> skip
        fi;
        if
        :: aReq != 0 && aAge >= TOIDLE ->             /* its timeout has come */
           d_step { printf("(idle) A: request %d times out\n", aReq); opTimedOut[aOp] = true; aOpEnd(false) }
        :: else ->
        if :: aReq != 0 -> aAge++ :: else -> skip fi;
        if
        /* a second passes: both heartbeats fire, in either order */
        :: d_step { printf("(idle %d) heartbeats of B then A  [B %d hears %d checking %d link %d%d]\n", idle, bState, bHears, bChecking, pubOk[B], subOk[B]); bTick(); aTick() }
        :: d_step { printf("(idle %d) heartbeats of A then B  [B %d hears %d checking %d link %d%d]\n", idle, bState, bHears, bChecking, pubOk[B], subOk[B]); aTick(); bTick() }
        :: d_step { bMBdef && bState != SMEMBER && !bWaitOver -> printf("(idle) B's wait for A is over\n"); bWaitOver = true }
        :: d_step { aReq != 0 -> printf("(idle) A: request %d times out\n", aReq); opTimedOut[aOp] = true; aOpEnd(false) }
        :: d_step { aMBdef && aState != SMEMBER && !aWaitOver -> printf("(idle) A's wait for B is over\n"); aWaitOver = true }
        fi
        fi
     fi
  od;
#ifdef NO_TRUNC
  assert(!trunc);
#endif
}
