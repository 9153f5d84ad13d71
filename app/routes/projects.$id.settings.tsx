import { type ActionFunctionArgs, data, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { ProjectFields, projectInputFromForm } from "../components/ProjectFields";
import { ProjectNav } from "../components/ProjectNav";
import { Alert, Button, Card } from "../components/ui";
import { fieldErrors, isDomainError } from "../lib/errors";
import { orRespond, parseId, requireUser } from "../lib/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [{ title: `Settings · ${data?.project.name ?? "Project"} · Pairwise` }];

export async function loader({ context, request, params }: LoaderFunctionArgs) {
  const user = requireUser(context, request);
  const { project } = await orRespond(context.services.projects.requireResearcher(user, parseId(params.id)));
  return { project };
}

export async function action({ context, request, params }: ActionFunctionArgs) {
  const user = requireUser(context, request);
  const input = projectInputFromForm(await request.formData());
  try {
    const project = await context.services.projects.update(user, parseId(params.id), input);
    return data({ ok: true as const, schemeVersion: project.schemeVersion, error: null, fields: {}, values: null });
  } catch (e) {
    if (isDomainError(e)) return data({ ok: false as const, schemeVersion: null, error: e.message, fields: fieldErrors(e.details?.fields), values: input }, { status: 400 });
    throw e;
  }
}

export default function Settings() {
  const { project } = useLoaderData<typeof loader>();
  const result = useActionData<typeof action>();
  const nav = useNavigation();
  return (
    <div>
      <h1 className="mb-4 text-xl font-semibold">{project.name}</h1>
      <ProjectNav projectId={project.id} />
      <Card
        title="Settings"
        actions={
          <span className="text-sm text-muted" data-testid="scheme-version">
            Scheme version {project.schemeVersion}
          </span>
        }
      >
        <Form method="post" className="flex max-w-3xl flex-col gap-4">
          {result?.ok ? <Alert kind="success">Saved. Scheme version is now {result.schemeVersion}.</Alert> : null}
          {result && !result.ok ? <Alert>{Object.keys(result.fields).length ? "Please fix the highlighted fields." : result.error}</Alert> : null}
          <ProjectFields key={project.updatedAt} values={result?.values ?? project} errors={result?.fields ?? {}} />
          <p className="text-xs text-muted">Changing the labeling scheme starts a new scheme version; judgments keep the version they were made under.</p>
          <div>
            <Button type="submit" variant="primary" disabled={nav.state !== "idle"}>
              Save settings
            </Button>
          </div>
        </Form>
      </Card>
    </div>
  );
}
