// A small order-system client typed by the types openapi-typescript generates from openapi/openapi.json.
// CI only type-checks it (`tsc --noEmit`): a renamed field, a dropped operation or a changed response
// shape in the spec breaks this build. The @ts-expect-error lines prove the types really constrain calls.
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./generated/chipclass";

type ScreeningRequest = components["schemas"]["ScreeningRequest"];
type ScreeningResponse = components["schemas"]["ScreeningResponse"];
type Problem = components["schemas"]["Problem"];
type ScreeningCreated = operations["create_screening"]["responses"][201]["content"]["application/json"];

export function connect(baseUrl: string, apiKey: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${apiKey}` } });
}

export async function classify(api: ReturnType<typeof connect>, acceleratorId: string): Promise<string | null> {
  const { data, error } = await api.POST("/v1/classifications", { body: { accelerator_id: acceleratorId } });
  if (error) throw new Error(`${error.code}: ${error.detail}`);
  return data.eccn;
}

export async function screen(
  api: ReturnType<typeof connect>,
  order: ScreeningRequest,
  idempotencyKey: string,
): Promise<{ decision: ScreeningResponse; replayed: boolean }> {
  const { data, error, response } = await api.POST("/v1/screenings", {
    body: order,
    params: { header: { "Idempotency-Key": idempotencyKey } },
  });
  if (error) {
    const problem: Problem = error;
    throw new Error(`${problem.status} ${problem.code}: ${problem.detail}`);
  }
  return { decision: data, replayed: response.headers.get("Idempotent-Replayed") === "true" };
}

export async function fetchDecision(api: ReturnType<typeof connect>, id: string): Promise<ScreeningResponse | null> {
  const { data, response } = await api.GET("/v1/screenings/{screening_id}", {
    params: { path: { screening_id: id } },
  });
  return response.status === 404 ? null : (data ?? null);
}

export function summarize(decision: ScreeningCreated): string {
  const lines = decision.lines.map(
    (line) => `${line.key}: ${line.classification.eccn ?? "not 3A090"} ${line.license_required ? "licence" : "no licence"}`,
  );
  return `${decision.id ?? "hypothetical"} -> ${decision.destination} (${decision.license_required}) ${lines.join("; ")}`;
}

export async function main(baseUrl: string, apiKey: string): Promise<void> {
  const api = connect(baseUrl, apiKey);
  console.log("eccn", await classify(api, "nvidia-h100-sxm5-80gb"));
  const order: ScreeningRequest = {
    destination: "CN",
    end_user: { name: "Buyer Ltd", headquarters: "CN" },
    lines: [{ key: "1", accelerator_id: "nvidia-h100-sxm5-80gb", quantity: 8 }],
  };
  const first = await screen(api, order, "order-42");
  const again = await screen(api, order, "order-42");
  console.log(summarize(first.decision), again.replayed);
  if (first.decision.id) console.log(await fetchDecision(api, first.decision.id));

  // @ts-expect-error quantity is an integer, not a string
  const badLine: ScreeningRequest["lines"][number] = { key: "x", accelerator_id: "a", quantity: "8" };
  // @ts-expect-error there is no such operation
  await api.POST("/v1/screening", { body: order });
  // @ts-expect-error end_user is required
  const noEndUser: ScreeningRequest = { destination: "CN", lines: [badLine] };
  void noEndUser;
}
