import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { Form, useActionData, useNavigation, useSearchParams } from "@remix-run/react";
import { Alert, Button, TextInput } from "../components/ui";

export const meta: MetaFunction = () => [{ title: "Sign in · Pairwise" }];

function safeNext(raw: FormDataEntryValue | string | null): string {
  const s = typeof raw === "string" ? raw : "";
  return s.startsWith("/") && !s.startsWith("//") && !s.startsWith("/\\") ? s : "/projects";
}

export async function loader({ context, request }: LoaderFunctionArgs) {
  if (context.user) throw redirect(safeNext(new URL(request.url).searchParams.get("next")));
  return null;
}

export async function action({ context, request }: ActionFunctionArgs) {
  const fd = await request.formData();
  const email = String(fd.get("email") ?? "").trim();
  const password = String(fd.get("password") ?? "");
  if (!email || !password) return data({ error: "Enter your email and password.", email }, { status: 400 });
  const user = await context.services.auth.verifyLogin(email, password);
  if (!user) return data({ error: "That email and password don't match an account.", email }, { status: 401 });
  const session = await context.services.auth.createSession(user.id);
  const maxAge = Math.max(1, Math.floor((session.expiresAt - Date.now()) / 1000));
  throw redirect(safeNext(fd.get("next")), { headers: { "Set-Cookie": context.cookies.session(session.token, maxAge) } });
}

export default function Login() {
  const result = useActionData<typeof action>();
  const [params] = useSearchParams();
  const nav = useNavigation();
  const busy = nav.state !== "idle";
  return (
    <div className="mx-auto mt-10 max-w-sm">
      <h1 className="mb-1 text-xl font-semibold">Sign in to Pairwise</h1>
      <p className="mb-6 text-sm text-muted">Compare model responses side by side.</p>
      <Form method="post" className="flex flex-col gap-4 rounded-lg border border-line bg-surface p-5" noValidate>
        <input type="hidden" name="next" value={params.get("next") ?? ""} />
        {result?.error ? <Alert>{result.error}</Alert> : null}
        <TextInput label="Email" name="email" type="email" autoComplete="username" defaultValue={result?.email ?? ""} required autoFocus />
        <TextInput label="Password" name="password" type="password" autoComplete="current-password" required />
        <Button type="submit" variant="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </Button>
      </Form>
    </div>
  );
}
