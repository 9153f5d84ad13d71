import { type Content } from "../lib/content";
import { Markdown } from "./Markdown";

const roleLabel: Record<string, string> = { system: "System", user: "User", assistant: "Assistant", tool: "Tool" };

/** A prompt or response: markdown text, or a transcript with one labelled block per message. */
export function ChatContent({ content, hideSingleRole = false }: { content: Content; hideSingleRole?: boolean }) {
  if (typeof content === "string") return <Markdown text={content} />;
  if (hideSingleRole && content.length === 1) return <Markdown text={content[0]!.content} />;
  return (
    <div className="flex flex-col gap-3">
      {content.map((m, i) => (
        <div key={i} className="grid grid-cols-[5.5rem_1fr] gap-3 max-sm:grid-cols-1 max-sm:gap-1">
          <div className="pt-0.5 text-xs font-semibold uppercase tracking-wide text-muted">{roleLabel[m.role] ?? m.role}</div>
          <Markdown text={m.content} />
        </div>
      ))}
    </div>
  );
}
