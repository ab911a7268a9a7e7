#!/usr/bin/env node
// `npx espfleet run|config|watch`: the CLI is TypeScript (simulator/cli.ts), run through tsx.
import { register } from "tsx/esm/api";

register();
await import("../simulator/cli.ts");
