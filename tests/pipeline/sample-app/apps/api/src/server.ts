import { createServer, type Server } from "node:http";
import { health } from "@acme/shared";

/** The API: GET /healthz answers the shared health document, anything else 404. */
export function server(version: string): Server {
  return createServer((request, response) => {
    if (request.url === "/healthz") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify(health(version)));
      return;
    }
    response.writeHead(404).end();
  });
}
