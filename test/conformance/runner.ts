/**
 * Runs one scenario (test/conformance/scenarios/*.json) through the core on
 * the ScenarioPlatform and returns the trace. Transpiled to Lua as well, so
 * the same steps drive the same core in Node, Lua 5.1 and Lua 5.3.
 */
import { SensorNode } from "../../firmware/core/node";
import type { SensorRead } from "../../firmware/core/platform";
import { HostCodec, ScenarioPlatform, TraceEntry } from "./scenario-platform";

/** One step; `do` names the action, the other fields are its arguments. */
export interface Step {
  do: string;
  /** advance: virtual milliseconds. */
  ms?: number;
  /** deliver: topic (default "config_change"); payload as text, or `json` to encode; `force`: even unsubscribed. */
  topic?: string;
  payload?: string;
  json?: object;
  force?: boolean;
  /** late: which callback comes late (ScenarioPlatform.late): offline, message (topic, payload), ack, timer (name). */
  event?: string;
  /** broker / acks / fs_full: on or off. */
  on?: boolean;
  /** drop: the session is gone without an "offline" yet (NodeMCU: a publish raises "not connected" first). */
  silent?: boolean;
  /** sensor: name and the reads to return from now on (number, or text for a failure). */
  name?: string;
  reads?: SensorRead[];
  reason?: string;
}

export interface Scenario {
  name: string;
  /** Files on the node before boot, e.g. config.json as an object; a string is the file's text as it is. */
  files?: Record<string, object | string>;
  sensors?: Record<string, SensorRead[]>;
  unixTime?: number;
  steps: Step[];
}

export function runScenario(scenario: Scenario, json: HostCodec): TraceEntry[] {
  const platform = new ScenarioPlatform(json);
  if (scenario.files !== undefined) {
    for (const name in scenario.files) {
      const contents = scenario.files[name];
      platform.files[name] = typeof contents === "string" ? contents : json.encode(contents);
    }
  }
  if (scenario.sensors !== undefined) {
    platform.sensorScript = scenario.sensors;
  }
  if (scenario.unixTime !== undefined) {
    platform.unixTime = scenario.unixTime;
  }
  const node = new SensorNode(platform);
  for (const step of scenario.steps) {
    runStep(platform, node, step, json);
  }
  return platform.trace;
}

function runStep(platform: ScenarioPlatform, node: SensorNode, step: Step, json: HostCodec): void {
  const action = step.do;
  if (action === "boot") {
    node.start();
  } else if (action === "advance") {
    platform.advance(step.ms ?? 0);
  } else if (action === "wifi_up") {
    platform.bringWifiUp();
  } else if (action === "wifi_down") {
    platform.takeWifiDown(step.reason ?? "beacon timeout");
  } else if (action === "broker") {
    platform.brokerUp = step.on === true;
  } else if (action === "drop") {
    platform.dropConnection(step.silent === true);
  } else if (action === "file") {
    // A stored file as the next boot finds it: `payload` is its text.
    platform.files[step.name ?? ""] = step.payload ?? "";
  } else if (action === "acks") {
    platform.brokerAcks = step.on === true;
  } else if (action === "fs_full") {
    platform.fileSystemFull = step.on === true;
  } else if (action === "deliver") {
    const payload = step.json !== undefined ? json.encode(step.json) : (step.payload ?? "");
    platform.deliver(step.topic ?? "config_change", payload, step.force === true);
  } else if (action === "late") {
    platform.late(step.event ?? "", step.name ?? "", step.topic ?? "config_change", step.payload ?? "");
  } else if (action === "sensor") {
    platform.sensorScript[step.name ?? ""] = step.reads ?? [];
  } else if (action === "stop") {
    node.stop();
  } else {
    platform.record({ t: platform.now, ev: "bad_step", step: action });
  }
}
