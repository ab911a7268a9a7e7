/**
 * The broker's CA certificate for `mqtts://` (`--ca` / MQTT_CA): uploaded as
 * ca.pem, which init.lua pins with tls.cert.verify on the next boot.
 */
import { readFileSync } from "node:fs";
import { CliError } from "../../common/errors";

/** The name init.lua looks for, and the most of it that it reads (firmware/nodemcu/init.lua, pin_from). */
export const CA_FILE = "ca.pem";
const CA_MAX_BYTES = 4096;

/** The broker CA as init.lua reads it: one PEM file of at most 4 KB. */
export function readBrokerCa(path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new CliError(`--ca / MQTT_CA ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); give the PEM file of the CA that signed the broker's certificate`, 2);
  }
  if (!pem.toString("latin1").includes("-----BEGIN CERTIFICATE-----")) {
    throw new CliError(`--ca / MQTT_CA ${path} holds no PEM certificate (no "-----BEGIN CERTIFICATE-----"); convert a DER file with: openssl x509 -inform der -in ca.der -out ca.pem`, 2);
  }
  if (pem.length > CA_MAX_BYTES) {
    throw new CliError(`--ca / MQTT_CA ${path} is ${pem.length} bytes; the node reads at most ${CA_MAX_BYTES}: give only the one CA certificate that signed the broker's`, 2);
  }
  return pem;
}

