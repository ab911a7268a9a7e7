/**
 * The embedded broker on a folder, alone in a process, for
 * `npm run bench:collect`'s catch-up: as under `npm start`, where it runs in
 * `espfleet run`'s process and the collector in another.
 */
import { startEmbeddedBroker } from "../../broker/embedded";
import type { BrokerSettings, FromBroker } from "./collect-bench-protocol";

const settings = JSON.parse(process.argv[2]) as BrokerSettings;
const send = (message: FromBroker): void => void process.send?.(message);

const broker = await startEmbeddedBroker({
  port: settings.port,
  store: { kind: "folder", folder: settings.folder, ifLocked: "fail" },
  queueLimit: settings.queueLimit,
  sessions: [settings.session],
  log: (line) => process.stderr.write(line + "\n"),
});
send({ type: "listening", port: broker.port });

process.on("disconnect", () => process.exit(1));
process.on("message", () => {
  void broker.close().then(() => {
    send({ type: "stopped" });
    process.exit(0);
  });
});
