// `helm test`: submits one task through the API and waits for it to succeed (Node 20, no
// dependencies). JETQ_URL: the API; JETQ_API_KEY: a key that may create tasks (unless auth is off);
// JETQ_TEST_TASK_TYPE, JETQ_TEST_TIMEOUT_S. Exit 0 once the task succeeded, 1 otherwise.
const base = process.env.JETQ_URL;
const key = process.env.JETQ_API_KEY;
const type = process.env.JETQ_TEST_TASK_TYPE || "sync_sources";
const deadline = Date.now() + Number(process.env.JETQ_TEST_TIMEOUT_S || 120) * 1000;
const headers = { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };

function fail(message) {
  console.error(`helm test: ${message}`);
  process.exit(1);
}

async function call(method, path, body) {
  for (;;) {
    try {
      const res = await fetch(new URL(path, base), { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      // The API or NATS may still be starting: retry 502/503 until the deadline.
      if ((res.status === 502 || res.status === 503) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      return { status: res.status, body: text ? JSON.parse(text) : null };
    } catch (err) {
      if (Date.now() >= deadline) fail(`${method} ${path}: ${err.message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

if (!base) fail("JETQ_URL is not set");
if (process.env.JETQ_AUTH_ON === "true" && !key) {
  fail("the API asks for a key and none was given: set api.auth.adminKeySecret (or tests.apiKeySecret) to a Secret holding a member or admin key");
}
const created = await call("POST", "/api/tasks", { type, payload: {}, priority: "high" });
if (created.status !== 202) fail(`POST /api/tasks answered ${created.status}: ${JSON.stringify(created.body)}`);
const id = created.body.id;
console.log(`task ${id} (${type}) accepted`);
for (;;) {
  const { status, body } = await call("GET", `/api/tasks/${id}/status`);
  if (status !== 200) fail(`GET /api/tasks/${id}/status answered ${status}: ${JSON.stringify(body)}`);
  if (body.status === "succeeded") {
    console.log(`task ${id} succeeded after ${body.attempts} attempt(s)`);
    process.exit(0);
  }
  if (["failed", "cancelled"].includes(body.status)) fail(`task ${id} ended ${body.status}: ${JSON.stringify(body.error ?? null)}`);
  if (Date.now() >= deadline) fail(`task ${id} still ${body.status} after ${process.env.JETQ_TEST_TIMEOUT_S || 120} s (are workers running? kubectl get wpool)`);
  await new Promise((r) => setTimeout(r, 1000));
}
