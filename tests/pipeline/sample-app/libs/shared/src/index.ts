/** The health answer every service of the shop gives. */
export interface Health {
  status: "ok" | "degraded";
  version: string;
}

export function health(version: string, degraded = false): Health {
  return { status: degraded ? "degraded" : "ok", version };
}
