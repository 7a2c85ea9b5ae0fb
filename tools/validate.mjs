// The validator that lives on npm, run once over a batch of rendered artifacts.
// Input (stdin, JSON): {"argo": [<object>, ...]}
// Output (stdout, JSON): {"argo": [{kind, name, errors: [string]}]}
// The Argo Rollouts objects are checked with @kubernetes-models/argo-rollouts' validate(), which
// applies the CRD's OpenAPI schema. (actionlint runs from PyPI: tests/validators.py.)
import { Rollout } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/Rollout";
import { AnalysisTemplate } from "@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1/AnalysisTemplate";

const MODELS = { Rollout, AnalysisTemplate };

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

const input = await readStdin();
const result = { argo: [] };

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
