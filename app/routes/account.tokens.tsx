import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { useState } from "react";
import { Alert, Button, Card, PageTitle, TextInput } from "../components/ui";
import { isDomainError } from "../lib/errors";
import { formatAgo, formatDate } from "../lib/format";
import { requireUser } from "../lib/session.server";

export const meta: MetaFunction = () => [{ title: "API tokens · Pairwise" }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  return { tokens: await context.services.auth.listTokens(user.id), now: Date.now() };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const fd = await request.formData();
  try {
    if (fd.get("intent") === "revoke") {
      await context.services.auth.revokeToken(user.id, Number(fd.get("tokenId")));
      return data({ created: null, message: "Token revoked.", error: null });
    }
    const t = await context.services.auth.createToken(user.id, String(fd.get("name") ?? "").trim() || "api");
    return data({ created: { token: t.token, prefix: t.prefix }, message: null, error: null });
  } catch (e) {
    if (isDomainError(e)) return data({ created: null, message: null, error: e.message }, { status: 400 });
    throw e;
  }
}

function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <Button
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
          setTimeout(() => setCopied(false), 2000);
        } catch {
          setCopied(false);
        }
      }}
    >
      {copied ? "Copied" : "Copy"}
    </Button>
  );
}

export default function Tokens() {
  const { tokens, now } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const nav = useNavigation();
  return (
    <div className="max-w-3xl">
      <PageTitle sub="Scripts and the trainer use these to call the REST API as you (Authorization: Bearer …).">API tokens</PageTitle>
      <Card title="Create a token" className="mb-6">
        <Form method="post" className="flex flex-wrap items-end gap-3">
          <input type="hidden" name="intent" value="create" />
          <div className="min-w-[16rem] flex-1">
            <TextInput label="Name" name="name" placeholder="e.g. export script" maxLength={100} />
          </div>
          <Button type="submit" variant="primary" disabled={nav.state !== "idle"}>
            Create token
          </Button>
        </Form>
        {result?.created ? (
          <div className="mt-4 flex flex-col gap-2 rounded-md border border-accent bg-accent-soft p-3" data-testid="new-token">
            <p className="text-sm font-medium">Copy this token now. It won't be shown again.</p>
            <div className="flex items-center gap-2">
              <code className="min-w-0 flex-1 overflow-x-auto rounded bg-surface px-2 py-1 font-mono text-sm">{result.created.token}</code>
              <CopyButton text={result.created.token} />
            </div>
          </div>
        ) : null}
        {result?.message ? <div className="mt-4"><Alert kind="success">{result.message}</Alert></div> : null}
        {result?.error ? <div className="mt-4"><Alert>{result.error}</Alert></div> : null}
      </Card>
      <Card title="Your tokens">
        {tokens.length === 0 ? (
          <p className="text-sm text-muted">No tokens yet.</p>
        ) : (
          <table className="w-full text-sm">
            <thead>
              <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                <th className="py-2 pr-3 font-medium">Name</th>
                <th className="py-2 pr-3 font-medium">Starts with</th>
                <th className="py-2 pr-3 font-medium">Created</th>
                <th className="py-2 pr-3 font-medium">Last used</th>
                <th className="py-2" />
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id} className="border-b border-line last:border-0">
                  <td className="py-2 pr-3 font-medium">{t.name}</td>
                  <td className="py-2 pr-3 font-mono text-xs">{t.prefix}…</td>
                  <td className="py-2 pr-3 text-muted">{formatDate(t.created_at)}</td>
                  <td className="py-2 pr-3 text-muted">{formatAgo(t.last_used_at, now)}</td>
                  <td className="py-2 text-right">
                    {t.revoked_at ? (
                      <span className="text-xs text-muted">revoked</span>
                    ) : (
                      <Form method="post" onSubmit={(e) => (!confirm(`Revoke token "${t.name}"? Scripts using it will stop working.`) ? e.preventDefault() : undefined)}>
                        <input type="hidden" name="intent" value="revoke" />
                        <input type="hidden" name="tokenId" value={t.id} />
                        <Button type="submit" variant="danger">
                          Revoke
                        </Button>
                      </Form>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </div>
  );
}
