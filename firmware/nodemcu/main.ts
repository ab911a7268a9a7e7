/**
 * The application entry on NodeMCU: `dofile("app.lua")` from init.lua runs
 * this once per boot. `espfleet_node` is left global so it can be inspected
 * from the REPL (e.g. `=espfleet_node:currentConfig().interval_ms`).
 */
import { SensorNode } from "../core/node";
import { NodeMcuPlatform } from "./platform";


let current: SensorNode | undefined = undefined;
const platform = new NodeMcuPlatform(() => (current !== undefined ? current.settings().dht_pin : 4));
current = new SensorNode(platform);
espfleet_node = current;
current.start();
