import type { RoomsError } from '../errors';
import type { MembershipChange } from '../membership';

/** What the other servers of the cluster answered to one change or query. */
export interface PeerAnswer {
  /** Servers that answered (this one not included). */
  servers: number;
  /** Sockets they applied the change to. */
  matched: number;
  /** For join/leave by ID: the IDs they hold. */
  foundIds: string[];
  /** `false` with `confirm: 'local'`: the change was sent, nobody was asked to answer. */
  confirmed: boolean;
  /**
   * Servers cut off from the cluster (fenced) that may hold sockets the change concerns: a removal
   * is recorded for them, a join does not reach them (docs/partitions.md).
   */
  unreachableServers: number;
}

/** What a transport knows of the cluster, for `stats()`. */
export interface TransportStats {
  /** Both connections to Redis up or not; absent without Redis. */
  redis?: 'up' | 'down';
  standing: 'member' | 'holding' | 'fenced';
  peers: Array<{ id: string; lastHeardMs: number; fenced: boolean }>;
  /** Requests waiting for other servers. */
  pending: number;
  /** Operations waiting, unsent, for Redis to come back (waiting.ts). */
  waiting: number;
}

/** How long a lowering server waits for the cluster to take its goodbye. */
export const LEAVE_MS = 1000;

/** How the transport tells the app what happens to the cluster (sails.emit). */
export type TransportEvents = (event: string, payload: Record<string, unknown>) => void;

export type PeersAnswered = (err: RoomsError | null, peers?: PeerAnswer) => void;

/** How a change reaches the other servers. One implementation per `sails.config.rooms.adapter`. */
export interface ClusterTransport {
  /** `false` when there is no other server to tell (the memory adapter). */
  readonly clustered: boolean;
  /**
   * Sends a change to the other servers it may concern (to those holding its sockets, where
   * known, else to all); `answered` is told as `sails.config.rooms.confirm` says, never before
   * sendChange returned (a callback: thousands may be in flight).
   */
  sendChange(change: MembershipChange, answered: PeersAnswered): void;
  /**
   * The rooms of a socket held by another server, or `null` if none holds it; rejects with
   * E_UNAVAILABLE if a server cut off may hold it, unless `partial`.
   */
  roomsOfRemoteSocket(socketId: string, partial: boolean): Promise<string[] | null>;
  /** The members of a room on the other servers; rejects with E_UNAVAILABLE (err.partial) if a server is cut off, unless `partial`. */
  remoteMembersOf(room: string, partial: boolean): Promise<string[]>;
  stats(): TransportStats;
  /** Tells the other servers this one leaves, so they stop waiting for it; within `ms`. */
  leave(ms: number): Promise<void>;
  /** Closes what the transport opened; safe to call twice. */
  close(): Promise<void>;
}
