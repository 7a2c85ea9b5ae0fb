import { server } from "./server.js";

const port = Number(process.env.PORT ?? "8080");
server(process.env.APP_VERSION ?? "dev").listen(port);
