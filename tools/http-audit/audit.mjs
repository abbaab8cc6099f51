// graphql-http's server audits (the GraphQL over HTTP spec) against a running server.
//
//   cd tools/http-audit && npm ci && node audit.mjs [URL] [KEY]
//
// URL defaults to http://127.0.0.1:8000/graphql; KEY (or SEGMENTS_KEY) is sent as a bearer
// key. Prints every audit that is not ok and the counts; exits 1 when a MUST or SHOULD
// audit fails.
import { auditServer } from "graphql-http";

const url = process.argv[2] || "http://127.0.0.1:8000/graphql";
const key = process.argv[3] || process.env.SEGMENTS_KEY || "";

function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers || {});
  if (key) headers.set("authorization", `Bearer ${key}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithKey });
const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
for (const result of results) {
  counts[result.status] += 1;
  if (result.status !== "ok") {
    console.log(`${result.status.toUpperCase()} ${result.id} ${result.name}: ${result.reason}`);
  }
}
const failing = results.filter((r) => r.status === "error" || (r.status === "warn" && r.name.startsWith("SHOULD")));
const must = results.filter((r) => r.status === "error").length;
const should = results.filter((r) => r.status === "warn" && r.name.startsWith("SHOULD")).length;
console.log(`${results.length} audits: ${counts.ok} ok, ${must} MUST failing, ${should} SHOULD failing, ${counts.notice + counts.warn - should} MAY not done`);
process.exit(failing.length ? 1 : 0);
