/**
 * Why a TLS connection to the broker failed, in words that say what to do:
 * an untrusted CA, an expired certificate, a host-name mismatch, a client
 * certificate missing or refused. Node's error codes say which; the details
 * (expiry date, the names a certificate lists) come from the error itself or
 * from a second, non-verifying handshake that only reads the certificate.
 */
import { isIP } from "node:net";
import { connect, type PeerCertificate } from "node:tls";

/** The parts of the target this module needs. */
export interface TlsTarget {
  url: string;
  host: string;
  port: number;
  /** Path or description of the CA the client was given (for the message), if any. */
  caFile?: string;
  certFile?: string;
  hasClientCert: boolean;
}

export type TlsError = Error & { code?: string | number; cert?: PeerCertificate; host?: string };

/** Node's codes for "the chain does not end at a CA this client trusts". */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
]);

/** TLS alerts a broker sends when it wants a client certificate and got none. */
const CLIENT_CERT_REQUIRED = /CERTIFICATE_REQUIRED|ALERT_HANDSHAKE_FAILURE/i;
/** TLS alerts a broker sends when it refused the client certificate it got. */
const CLIENT_CERT_REFUSED = /ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|DECRYPT_ERROR|ACCESS_DENIED)/i;

function codeOf(error: TlsError): string {
  return typeof error.code === "string" ? error.code : "";
}

/** Is this a TLS failure (as opposed to a refused TCP connection or login)? */
export function isTlsError(error: TlsError): boolean {
  const code = codeOf(error);
  return UNTRUSTED.has(code) || code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.startsWith("CERT_") || /certificate|self.signed|SSL|TLS/i.test(error.message);
}

/** "DNS:broker.lan, IP Address:10.0.0.2" -> "broker.lan, 10.0.0.2"; the CN when there is no SAN. */
export function certificateNames(cert: PeerCertificate | undefined): string {
  if (cert === undefined) {
    return "other names";
  }
  const san = cert.subjectaltname;
  if (san !== undefined && san !== "") {
    return san
      .split(/,\s*/)
      .map((entry) => entry.replace(/^(DNS|IP Address):/, ""))
      .join(", ");
  }
  const cn = cert.subject?.CN;
  return cn !== undefined ? String(cn) : "other names";
}

/** OpenSSL's "Jan  2 00:00:00 2020 GMT" as "2020-01-02 00:00:00 UTC"; as given when it does not parse. */
export function certificateDate(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function issuerOf(cert: PeerCertificate | undefined): string {
  const cn = cert?.issuer?.CN;
  return cn !== undefined ? ` (issued by "${String(cn)}")` : "";
}

/**
 * Read the broker's certificate without verifying it: only for the error
 * message, after a verified connection failed. Undefined when that fails too.
 */
export function fetchServerCertificate(host: string, port: number, timeoutMs = 5000): Promise<PeerCertificate | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (cert: PeerCertificate | undefined): void => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(cert);
      }
    };
    const socket = connect({ host, port, rejectUnauthorized: false, servername: isIP(host) === 0 ? host : undefined });
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      done(cert !== undefined && Object.keys(cert).length > 0 ? cert : undefined);
    });
    socket.once("error", () => done(undefined));
  });
}

/**
 * Advice for a TLS failure, or undefined when `error` is not one this module
 * knows. `server` is the broker's certificate when it could be read.
 */
export function explainTlsError(target: TlsTarget, error: TlsError, server: PeerCertificate | undefined): string | undefined {
  const code = codeOf(error);
  const at = `TLS to ${target.url} failed`;
  if (code === "CERT_HAS_EXPIRED") {
    const when = server?.valid_to !== undefined ? ` on ${certificateDate(server.valid_to)}` : "";
    return `${at}: the broker's certificate expired${when}; renew it (issue a new server certificate and restart the broker)`;
  }
  if (code === "CERT_NOT_YET_VALID") {
    const when = server?.valid_from !== undefined ? ` before ${certificateDate(server.valid_from)}` : " yet";
    return `${at}: the broker's certificate is not valid${when}; check the clocks of this host and the broker`;
  }
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `${at}: the certificate is for ${certificateNames(error.cert ?? server)}, not ${target.host}; connect by a name it lists or reissue it`;
  }
  if (UNTRUSTED.has(code)) {
    const given = target.caFile !== undefined ? `the CA in --ca ${target.caFile} did not sign it` : "no CA this host trusts signed it";
    return `${at}: cannot verify the broker's certificate${issuerOf(server)}: ${code}, ${given}; pass the broker's CA certificate with --ca <file.pem>`;
  }
  const text = `${code} ${error.message}`;
  if (CLIENT_CERT_REFUSED.test(text) && target.hasClientCert) {
    return `${at}: the broker rejected the client certificate --cert ${target.certFile ?? ""} (${code !== "" ? code : error.message}); use one signed by the CA the broker trusts (its cafile), not expired`;
  }
  if (CLIENT_CERT_REQUIRED.test(text) || (CLIENT_CERT_REFUSED.test(text) && !target.hasClientCert)) {
    return target.hasClientCert
      ? `${at}: the broker refused the handshake (${code !== "" ? code : error.message}); check that --cert is signed by the CA the broker trusts`
      : `${at}: the broker requires a client certificate; pass --cert <file.pem> and --key <file.pem>`;
  }
  if (isTlsError(error)) {
    return `${at}: ${code !== "" ? `${code} (${error.message})` : error.message}; check --ca, --cert and --key`;
  }
  return undefined;
}
