import crypto from "node:crypto";

export function sha256(text: string): string {
  return crypto.createHash("sha256").update(text).digest("hex");
}

export function randomToken(bytes = 32): string {
  return crypto.randomBytes(bytes).toString("base64url");
}
