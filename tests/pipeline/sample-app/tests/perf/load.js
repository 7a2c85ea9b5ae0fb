/* global __ENV */
// k6 load test of a released app (stage-deploy.yml's performance job): APP_URL is the
// environment's URL. Thresholds fail the run, and with it the staging acceptance.
import http from "k6/http";
import { check } from "k6";

export const options = {
  vus: 5,
  duration: "30s",
  thresholds: {
    http_req_failed: ["rate<0.01"],
    http_req_duration: ["p(95)<500"],
  },
};

export default function () {
  const answer = http.get(`${__ENV.APP_URL}/healthz`);
  check(answer, { "status is 200": (r) => r.status === 200 });
}
