/** A prompt or a response as the API sends it: plain text or a chat transcript. */
export type Message = { role: string; content: string };
export type Content = string | Message[];

export function contentText(c: Content): string {
  return typeof c === "string" ? c : c.map((m) => m.content).join("\n\n");
}
