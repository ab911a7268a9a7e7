/**
 * A throwaway public-key infrastructure for TLS tests, made with the openssl
 * command line: CAs, server certificates (for given names, or expired) and
 * client certificates. Everything lives in one temp directory.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KeyPair {
  /** PEM certificate file. */
  cert: string;
  /** PEM private key file (unencrypted). */
  key: string;
}

export interface ServerCertOptions {
  /** subjectAltName entries, e.g. ["IP:127.0.0.1", "DNS:localhost"]. */
  altNames: string[];
  /** Valid only in the past (from 2020-01-01 to 2020-01-02). */
  expired?: boolean;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), "espfleet-pki-"));
  private serial = 1;

  constructor() {
    // mosquitto started as root drops to its own user, which must read the (test-only) files.
    chmodSync(this.dir, 0o755);
  }

  /** A self-signed CA. */
  ca(name: string): KeyPair {
    const pair = this.paths(name);
    this.ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=espfleet test CA ${name}`, "-keyout", pair.key, "-out", pair.cert);
    return this.readable(pair);
  }

  /** A server certificate signed by `ca`. */
  server(name: string, ca: KeyPair, options: ServerCertOptions): KeyPair {
    const ext = [`subjectAltName=${options.altNames.join(",")}`, "basicConstraints=CA:FALSE", "extendedKeyUsage=serverAuth"];
    return this.issue(name, ca, `/CN=${name}`, ext, options.expired === true);
  }

  /** A client certificate signed by `ca`. */
  client(name: string, ca: KeyPair): KeyPair {
    return this.issue(name, ca, `/CN=${name}`, ["basicConstraints=CA:FALSE", "extendedKeyUsage=clientAuth"], false);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private issue(name: string, ca: KeyPair, subject: string, extensions: string[], expired: boolean): KeyPair {
    const pair = this.paths(name);
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, extensions.join("\n") + "\n");
    this.ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", pair.key, "-out", csr);
    if (!expired) {
      this.ssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-set_serial", String(this.serial++), "-days", "2", "-out", pair.cert, "-extfile", ext);
      return this.readable(pair);
    }
    // `openssl x509 -days` cannot go negative; `openssl ca` takes explicit dates.
    const db = join(this.dir, `${name}-ca`);
    mkdirSync(db);
    writeFileSync(join(db, "index.txt"), "");
    writeFileSync(join(db, "serial"), (1000 + this.serial++).toString(16).padStart(4, "0") + "\n");
    const conf = join(db, "ca.cnf");
    writeFileSync(
      conf,
      [
        "[ca]",
        "default_ca = test_ca",
        "[test_ca]",
        `database = ${join(db, "index.txt")}`,
        `new_certs_dir = ${db}`,
        `serial = ${join(db, "serial")}`,
        "default_md = sha256",
        "policy = any",
        "unique_subject = no",
        "[any]",
        "commonName = supplied",
        "",
      ].join("\n"),
    );
    this.ssl("ca", "-batch", "-notext", "-config", conf, "-cert", ca.cert, "-keyfile", ca.key, "-in", csr, "-out", pair.cert, "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", ext);
    return this.readable(pair);
  }

  private paths(name: string): KeyPair {
    return { cert: join(this.dir, `${name}.pem`), key: join(this.dir, `${name}.key`) };
  }

  private readable(pair: KeyPair): KeyPair {
    chmodSync(pair.key, 0o644);
    return pair;
  }

  private ssl(...args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: ["ignore", "ignore", "pipe"] });
  }
}

/** mosquitto.conf lines that make its listener speak TLS only, with `server` signed by `ca`. */
export function tlsListenerConfig(ca: KeyPair, server: KeyPair): string[] {
  return [`cafile ${ca.cert}`, `certfile ${server.cert}`, `keyfile ${server.key}`];
}
