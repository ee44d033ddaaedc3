/**
 * TLS errors that no reconnection fixes: Redis' certificate does not verify or names another host,
 * or Redis demands or refuses a client certificate. node-redis retries them forever; the lift
 * fails at the first of them instead, naming it and the setting to change.
 */

/** OpenSSL's certificate verification failures, as Node names them in `err.code`. */
const VERIFICATION_FAILURES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_CRL', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE', 'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID', 'CERT_HAS_EXPIRED', 'CRL_NOT_YET_VALID', 'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD', 'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED', 'INVALID_CA', 'PATH_LENGTH_EXCEEDED', 'INVALID_PURPOSE', 'CERT_UNTRUSTED',
  'CERT_REJECTED', 'HOSTNAME_MISMATCH',
]);

/** TLS alerts Redis sends when it does not accept the client certificate it got. */
const CLIENT_CERTIFICATE_REFUSED = /^ERR_SSL_(TLSV1|SSLV3)_ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|ACCESS_DENIED)$/;

/**
 * What went wrong and the fix, if `err` is a TLS failure that will happen again on every attempt;
 * otherwise undefined (Redis down, a network fault: worth retrying until `timeout`).
 */
export function describeTlsFailure(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const { code, reason } = err as Error & { code?: unknown; reason?: unknown };
  if (typeof code !== 'string') return undefined;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `${err.message} (${code}): Redis' certificate is for another host; connect to a host it names `
      + '(sails.config.rooms.url), or set sails.config.rooms.tls.servername to one';
  }
  if (VERIFICATION_FAILURES.has(code)) {
    return `${err.message} (${code}): Redis' certificate does not verify; set sails.config.rooms.tls.ca to the CA `
      + 'certificate that signed it (PEM), and check that it is valid today';
  }
  if (!code.startsWith('ERR_SSL_')) return undefined;
  // OpenSSL's own message is a line of internals; `reason` is its readable part.
  const what = `${typeof reason === 'string' ? reason : err.message.trim()} (${code})`;
  if (code.endsWith('_ALERT_CERTIFICATE_REQUIRED')) {
    return `${what}: Redis requires a client certificate (tls-auth-clients); set sails.config.rooms.tls.cert and tls.key`;
  }
  if (CLIENT_CERTIFICATE_REFUSED.test(code)) {
    return `${what}: Redis refused the client certificate; sails.config.rooms.tls.cert must be signed by a CA `
      + "in Redis' tls-ca-cert-file, with tls.key its private key";
  }
  return `${what}: check sails.config.rooms.tls against Redis' TLS settings, and that the port in sails.config.rooms.url serves TLS`;
}
