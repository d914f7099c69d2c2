// Runs operations of the n8n Evolution API node (n8n-nodes-evolution-api, pinned in package.json) against a
// server, as n8n would run them: the node's own execute functions build every request; this file only plays
// the part of n8n's runtime around them (node parameters, the stored credential, `helpers.request`).
//
// stdin: {"server": "http://127.0.0.1:8000/evolution", "apikey": "wg_…",
//         "calls": [{"op": "messages/sendText", "params": {"instanceName": "ana", …}}, …]}
// stdout: one JSON array, per call: {"op", "ok", "result" | "error", "requests": [{method, uri, body, status,
//         answer (the body of a refusal)}]}
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const EXECUTE = "n8n-nodes-evolution-api/dist/nodes/EvolutionApi/execute";

// What n8n's legacy `helpers.request` (request-promise) does with {method, uri, body, json, headers}:
// resolves the parsed body of a 2xx, rejects anything else with statusCode, error (the body) and message.
function requester(log) {
  return async (options) => {
    const headers = { ...(options.headers || {}) };
    let body;
    if (options.body !== undefined) {
      body = options.json ? JSON.stringify(options.body) : options.body;
      if (options.json && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) {
        headers["content-type"] = "application/json";
      }
    }
    const response = await fetch(options.uri, { method: options.method || "GET", headers, body });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    const entry = { method: options.method || "GET", uri: options.uri, body: options.body, status: response.status };
    log.push(response.ok ? entry : { ...entry, answer: parsed });
    if (response.status < 200 || response.status > 299) {
      const error = new Error(`${response.status} - ${JSON.stringify(parsed)}`);
      error.statusCode = response.status;
      error.error = parsed;
      throw error;
    }
    return parsed;
  };
}

function parameter(params, name, fallback, hasFallback) {
  let value = params;
  for (const part of name.split(".")) {
    if (value === undefined || value === null || !(part in value)) {
      if (hasFallback) return fallback;
      throw new Error(`Could not get parameter "${name}"`);
    }
    value = value[part];
  }
  return value;
}

async function run(server, apikey, call) {
  const requests = [];
  const [group, name] = call.op.split("/");
  const module = require(`${EXECUTE}/${group}/${name}.js`);
  const execute = module[name];
  const context = {
    getInputData: () => [{ json: {} }],
    getNodeParameter: (key, _index, ...fallback) => parameter(call.params, key, fallback[0], fallback.length > 0),
    getCredentials: async () => ({ "server-url": server, apikey }),
    getNode: () => ({ name: "Evolution API", type: "n8n-nodes-evolution-api.evolutionApi", typeVersion: 1 }),
    continueOnFail: () => false,
    helpers: { request: requester(requests) },
  };
  try {
    const result = await execute(context);
    return { op: call.op, ok: true, result, requests };
  } catch (error) {
    return { op: call.op, ok: false, error: { message: error.message, description: error.description }, requests };
  }
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { server, apikey, calls } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const results = [];
for (const call of calls) results.push(await run(server, apikey, call));
process.stdout.write(JSON.stringify(results));
