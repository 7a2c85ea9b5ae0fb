import { createServer, type Server } from "node:http";
import { health } from "@acme/shared";

/** Answers counted by status code and method: the metric contract of the canary analysis. */
class RequestCounter {
  private readonly counts = new Map<string, number>();

  add(code: number, method: string): void {
    const key = `code="${code}",method="${method}"`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  /** The counter in the Prometheus text format (version 0.0.4). */
  exposition(): string {
    const lines = [
      "# HELP http_requests_total Requests answered, by status code and method.",
      "# TYPE http_requests_total counter",
    ];
    const sorted = [...this.counts].sort(([a], [b]) => a.localeCompare(b));
    for (const [labels, count] of sorted) {
      lines.push(`http_requests_total{${labels}} ${count}`);
    }
    return lines.join("\n") + "\n";
  }
}

/**
 * The API: GET /healthz answers the shared health document, GET /metrics the request counter
 * (docs/analysis.md of the delivery pipeline), anything else 404. Every answer but /metrics is
 * counted.
 */
export function server(version: string): Server {
  const requests = new RequestCounter();
  return createServer((request, response) => {
    const method = request.method ?? "GET";
    if (request.url === "/metrics") {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      response.end(requests.exposition());
      return;
    }
    if (request.url === "/healthz") {
      requests.add(200, method);
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(health(version)));
      return;
    }
    requests.add(404, method);
    response.writeHead(404).end();
  });
}
