// deno-lint-ignore-file no-console
/**
 * Fixture for lab_test.ts: creates a lab with one node running `sleep`, prints "lab <id> pid <sleep pid>", and
 * waits to be killed, so the test can check what SIGINT, SIGTERM and SIGKILL leave behind.
 */
import { createLab } from "../mod.ts";

const lab = await createLab({ nodes: 1, client: false });
const sleeper = lab.spawn(lab.nodes[0]!, ["sleep", "1000"]);
console.log(`lab ${lab.id} pid ${sleeper.pid}`);
// Keep the event loop alive until a signal ends the process.
setInterval(() => {}, 60_000);
