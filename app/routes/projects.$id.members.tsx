import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { ProjectNav } from "../components/ProjectNav";
import { Alert, Button, Card, Select, TextInput } from "../components/ui";
import { fieldErrors, isDomainError } from "../lib/errors";
import { formatDate } from "../lib/format";
import { orRespond, parseId, requireUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Members · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const { project } = await orRespond(context.services.projects.requireResearcher(user, projectId));
  const members = await context.services.projects.listMembers(user, projectId);
  return { project: { id: project.id, name: project.name }, members, me: user.id };
}

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const projectId = parseId(params.id);
  const fd = await request.formData();
  const intent = fd.get("intent");
  try {
    if (intent === "remove") {
      await context.services.projects.removeMember(user, projectId, Number(fd.get("userId")));
      return data({ ok: "Removed.", error: null, fields: {} as Record<string, string> });
    }
    const email = String(fd.get("email") ?? "");
    const role = String(fd.get("role") ?? "annotator");
    await context.services.projects.addMember(user, projectId, { email, role });
    return data({ ok: `Added ${email.trim()} as ${role}.`, error: null, fields: {} as Record<string, string> });
  } catch (e) {
    if (isDomainError(e)) return data({ ok: null, error: e.code === "not_found" ? e.message : e.message, fields: fieldErrors(e.details?.fields) }, { status: 400 });
    throw e;
  }
}

export default function Members() {
  const { project, members, me } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const nav = useNavigation();
  return (
    <div>
      <h1 className="mb-4 text-xl font-semibold">{project.name}</h1>
      <ProjectNav projectId={project.id} />
      <div className="grid gap-6 lg:grid-cols-[1fr_22rem]">
        <Card title={`Members (${members.length})`}>
          <table className="w-full text-sm" data-testid="member-table">
            <thead>
              <tr className="border-b border-line text-left text-xs uppercase tracking-wide text-muted">
                <th className="py-2 pr-3 font-medium">Name</th>
                <th className="py-2 pr-3 font-medium">Role</th>
                <th className="py-2 pr-3 font-medium">Added</th>
                <th className="py-2" />
              </tr>
            </thead>
            <tbody>
              {members.map((m) => (
                <tr key={m.id} className="border-b border-line last:border-0">
                  <td className="py-2 pr-3">
                    <div className="font-medium">{m.name}</div>
                    <div className="text-xs text-muted">{m.email}</div>
                  </td>
                  <td className="py-2 pr-3">{m.role}</td>
                  <td className="py-2 pr-3 text-muted">{formatDate(m.added_at)}</td>
                  <td className="py-2 text-right">
                    {m.id !== me ? (
                      <Form method="post" onSubmit={(e) => (!confirm(`Remove ${m.email} from this project?`) ? e.preventDefault() : undefined)}>
                        <input type="hidden" name="intent" value="remove" />
                        <input type="hidden" name="userId" value={m.id} />
                        <Button type="submit" variant="danger" aria-label={`Remove ${m.email}`}>
                          Remove
                        </Button>
                      </Form>
                    ) : (
                      <span className="text-xs text-muted">you</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
        <Card title="Add a member">
          <Form method="post" className="flex flex-col gap-3">
            <input type="hidden" name="intent" value="add" />
            {result?.ok ? <Alert kind="success">{result.ok}</Alert> : null}
            {result?.error && !Object.keys(result.fields).length ? <Alert>{result.error}</Alert> : null}
            <TextInput label="Email" name="email" type="email" required error={result?.fields.email} hint="The account must exist already." />
            <Select label="Role" name="role" defaultValue="annotator" error={result?.fields.role}>
              <option value="annotator">Annotator</option>
              <option value="researcher">Researcher</option>
            </Select>
            <Button type="submit" variant="primary" disabled={nav.state !== "idle"}>
              Add member
            </Button>
          </Form>
        </Card>
      </div>
    </div>
  );
}
