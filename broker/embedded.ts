/**
 * The embedded broker: aedes in this process on loopback, so `espfleet run`
 * (and `npm start`) work on a machine with nothing else installed. For more
 * than a few thousand nodes use mosquitto or a cluster (`--broker`): aedes
 * shares this process's one event loop with the nodes.
 */
import { createServer, type Server } from "node:net";
import { Aedes, type AedesOptions } from "aedes";
import { CliError } from "../common/errors";

export interface EmbeddedBroker {
  url: string;
  host: string;
  port: number;
  aedes: Aedes;
  /** Disconnect every client and stop listening. */
  close(): Promise<void>;
}

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Passed to aedes (e.g. the persistence of a previous instance, to restart with its sessions). */
  aedes?: AedesOptions;
}

export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? "127.0.0.1";
  const wanted = options.port ?? 1883;
  const aedes = await Aedes.createBroker({
    // A node that stops reading must not stall delivery to the rest of the fleet.
    drainTimeout: 10_000,
    concurrency: 1000,
    ...options.aedes,
  });
  const server: Server = createServer(aedes.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(wanted, host, () => {
        server.removeListener("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new CliError(
        `cannot start the embedded broker: ${host}:${wanted} is in use (another broker?); ` +
          `pass --port <free port>, or --broker mqtt://${host}:${wanted} to use the broker already running there`,
      );
    }
    throw new CliError(`cannot start the embedded broker on ${host}:${wanted}: ${(error as Error).message}`);
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : wanted;
  let closing: Promise<void> | undefined = undefined;
  return {
    url: `mqtt://${host}:${port}`,
    host,
    port,
    aedes,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close();
        aedes.close(() => resolve());
      });
      return closing;
    },
  };
}
