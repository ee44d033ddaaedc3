/**
 * TLS for tests: certificates made with openssl in a temporary folder, and a redis-server that
 * serves TLS on a port of its own beside its plain one (the plain port is the test's, for
 * readiness and inspection; the hook under test uses the TLS one).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './fixture';
import { run } from './processes';
import { startRedis, type TestRedis } from './redis';

/** A certificate's PEM text, its key's, and the files that hold them. */
export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCertificates {
  /** The CA that signed `server` and `client`. */
  ca: Pem;
  /** An unrelated CA, which signed `strangerClient`. */
  otherCa: Pem;
  /** Redis' certificate, for the IP address 127.0.0.1 only. */
  server: Pem;
  client: Pem;
  /** A client certificate Redis does not trust. */
  strangerClient: Pem;
  /** Removes the folder and everything in it. */
  remove(): Promise<void>;
}

// EC keys: quick to make, and every TLS version Redis and Node speak takes them.
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function readPem(dir: string, name: string): Promise<Pem> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), certFile, keyFile };
}

async function makeCa(dir: string, name: string): Promise<Pem> {
  await run('openssl', ['req', '-x509', ...NEW_KEY, '-days', '2', '-subj', `/CN=${name}`,
    '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`)]);
  return readPem(dir, name);
}

async function makeSigned(dir: string, name: string, ca: Pem, extensions: string): Promise<Pem> {
  const csr = path.join(dir, `${name}.csr`);
  const extFile = path.join(dir, `${name}.ext`);
  await writeFile(extFile, extensions);
  await run('openssl', ['req', ...NEW_KEY, '-subj', `/CN=${name}`, '-keyout', path.join(dir, `${name}.key`), '-out', csr]);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial',
    '-days', '2', '-extfile', extFile, '-out', path.join(dir, `${name}.crt`)]);
  return readPem(dir, name);
}

export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sails-hook-rooms-tls-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const ca = await makeCa(dir, 'ca');
    const otherCa = await makeCa(dir, 'other-ca');
    return {
      ca,
      otherCa,
      server: await makeSigned(dir, 'server', ca, 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'),
      client: await makeSigned(dir, 'client', ca, 'extendedKeyUsage=clientAuth\n'),
      strangerClient: await makeSigned(dir, 'stranger-client', otherCa, 'extendedKeyUsage=clientAuth\n'),
      remove,
    };
  } catch (err) {
    await remove();
    throw err;
  }
}

export interface TestTlsRedis extends TestRedis {
  tlsPort: number;
  /** rediss://127.0.0.1:<tlsPort> */
  tlsUrl: string;
}

/** A redis-server with TLS on `tlsPort`; `authClients`: it demands a client certificate signed by `certs.ca`. */
export async function startTlsRedis(certs: TestCertificates, { authClients }: { authClients: boolean }): Promise<TestTlsRedis> {
  const tlsPort = await freePort();
  const redis = await startRedis([
    '--tls-port', String(tlsPort),
    '--tls-cert-file', certs.server.certFile,
    '--tls-key-file', certs.server.keyFile,
    '--tls-ca-cert-file', certs.ca.certFile,
    '--tls-auth-clients', authClients ? 'yes' : 'no',
  ]);
  return Object.assign(redis, { tlsPort, tlsUrl: `rediss://127.0.0.1:${tlsPort}` });
}

/** The local addresses (`laddr`) of the connections Redis has: which port each came in through. */
export async function connectionPorts(redis: TestRedis): Promise<number[]> {
  const list = await redis.command<string>('CLIENT', 'LIST');
  return list.trim().split('\n').filter(Boolean).map((line) => Number(/\bladdr=\S+:(\d+)\b/.exec(line)?.[1]));
}
