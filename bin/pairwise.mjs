#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx pairwise` works in a fresh clone without a build.
import { register } from "tsx/esm/api";

register();
await import("../server/cli.ts");
