import ReactMarkdown, { type Components } from "react-markdown";
import rehypeSanitize, { defaultSchema } from "rehype-sanitize";
import remarkGfm from "remark-gfm";

/*
 * Model output is untrusted. Raw HTML is never parsed (no rehype-raw), so <script> or <iframe> in a
 * response shows as text; rehype-sanitize (GitHub's schema) drops anything else unsafe, and
 * react-markdown's urlTransform blanks javascript: and other unknown protocols. Images are never
 * fetched: a remote image could track annotators or show something that was not in the text.
 */
const schema = {
  ...defaultSchema,
  protocols: { ...defaultSchema.protocols, href: ["http", "https", "mailto"], src: [] },
};

function safeHref(href: string | undefined): string | undefined {
  if (!href) return undefined;
  const trimmed = href.trim();
  if (/^(https?:|mailto:)/i.test(trimmed) || trimmed.startsWith("#")) return trimmed;
  return undefined;
}

const components: Components = {
  img: ({ alt }) => (
    <span className="md-img" role="img" aria-label={alt ? `Image not shown: ${alt}` : "Image not shown"}>
      [image{alt ? `: ${alt}` : ""}]
    </span>
  ),
  a: ({ href, children }) => {
    const safe = safeHref(href);
    if (!safe) return <span className="underline decoration-dotted">{children}</span>;
    return (
      <a href={safe} target="_blank" rel="noopener noreferrer nofollow">
        {children}
      </a>
    );
  },
};

export function Markdown({ text, className = "" }: { text: string; className?: string }) {
  return (
    <div className={`md ${className}`}>
      <ReactMarkdown remarkPlugins={[remarkGfm]} rehypePlugins={[[rehypeSanitize, schema]]} components={components} skipHtml={false}>
        {text}
      </ReactMarkdown>
    </div>
  );
}
