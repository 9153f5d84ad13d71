import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction, redirect } from "@remix-run/node";
import { Form, Link, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { emptyProject, ProjectFields, projectInputFromForm } from "../components/ProjectFields";
import { Alert, Button, Card, PageTitle } from "../components/ui";
import { fieldErrors, isDomainError } from "../lib/errors";
import { requireUser } from "../lib/session.server";

export const meta: MetaFunction = () => [{ title: "Projects · Pairwise" }];

export async function loader({ context, request }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const projects = await context.services.projects.listForUser(user);
  return {
    canCreate: user.role !== "annotator",
    projects: projects.map((p) => ({ id: p.id, name: p.name, role: p.memberRole, judgmentsPerPair: p.judgmentsPerPair, schemeVersion: p.schemeVersion })),
  };
}

export async function action({ context, request }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const fd = await request.formData();
  const input = projectInputFromForm(fd);
  try {
    const p = await context.services.projects.create(user, input);
    throw redirect(`/projects/${p.id}/import`);
  } catch (e) {
    if (e instanceof Response) throw e;
    if (isDomainError(e)) return data({ error: e.message, fields: fieldErrors(e.details?.fields), values: input }, { status: 400 });
    throw e;
  }
}

export default function Projects() {
  const { projects, canCreate } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const nav = useNavigation();
  return (
    <div className="grid gap-6 lg:grid-cols-[1fr_28rem]">
      <div>
        <PageTitle sub={projects.length ? undefined : "You're not a member of any project yet."}>Your projects</PageTitle>
        <ul className="flex flex-col gap-2" data-testid="project-list">
          {projects.map((p) => (
            <li key={p.id}>
              <Link
                to={p.role === "annotator" ? `/projects/${p.id}/annotate` : `/projects/${p.id}`}
                className="flex items-center justify-between gap-3 rounded-lg border border-line bg-surface px-4 py-3 hover:border-accent"
              >
                <span className="font-medium">{p.name}</span>
                <span className="flex items-center gap-3 text-sm text-muted">
                  <span>{p.judgmentsPerPair} per pair</span>
                  <span className="rounded-full border border-line px-2 py-0.5 text-xs">{p.role}</span>
                </span>
              </Link>
            </li>
          ))}
        </ul>
      </div>
      {canCreate ? (
        <Card title="New project">
          <Form method="post" className="flex flex-col gap-4">
            {result?.error ? <Alert>{Object.keys(result.fields).length ? "Please fix the highlighted fields." : result.error}</Alert> : null}
            <ProjectFields values={result?.values ?? emptyProject} errors={result?.fields ?? {}} />
            <Button type="submit" variant="primary" disabled={nav.state !== "idle"}>
              Create project
            </Button>
          </Form>
        </Card>
      ) : null}
    </div>
  );
}
