import { type LinksFunction, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { isRouteErrorResponse, Link, Links, Meta, Outlet, Scripts, ScrollRestoration, useMatches, useRouteError, useRouteLoaderData } from "@remix-run/react";
import { type ReactNode } from "react";
import { AppHeader } from "./components/AppHeader";
import stylesheet from "./tailwind.css?url";

export const links: LinksFunction = () => [
  { rel: "stylesheet", href: stylesheet },
  { rel: "icon", href: "/favicon.svg", type: "image/svg+xml" },
];

export const meta: MetaFunction = () => [{ title: "Pairwise" }];

export async function loader({ context }: LoaderFunctionArgs) {
  const u = context.user;
  return { user: u ? { id: u.id, name: u.name, email: u.email, role: u.role } : null };
}

/** Routes may set `handle = { ownHeader: true }` (the annotator screen draws its own header). */
export type RouteHandle = { ownHeader?: boolean };

function useProjectFromMatches(): { id: number; name: string } | null {
  const matches = useMatches();
  for (let i = matches.length - 1; i >= 0; i--) {
    const d = matches[i]?.data as { project?: { id: number; name: string } } | undefined;
    if (d?.project && typeof d.project.id === "number") return { id: d.project.id, name: d.project.name };
  }
  return null;
}

export function Layout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <Meta />
        <Links />
      </head>
      <body className="min-h-screen font-sans antialiased">
        {children}
        <ScrollRestoration />
        <Scripts />
      </body>
    </html>
  );
}

export default function App() {
  const data = useRouteLoaderData<typeof loader>("root");
  const matches = useMatches();
  const ownHeader = matches.some((m) => (m.handle as RouteHandle | undefined)?.ownHeader);
  const project = useProjectFromMatches();
  if (ownHeader) return <Outlet />;
  return (
    <>
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-surface focus:px-3 focus:py-2">
        Skip to content
      </a>
      <AppHeader user={data?.user ?? null} project={project} />
      <main id="main" className="mx-auto max-w-6xl px-4 py-6">
        <Outlet />
      </main>
    </>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  let title = "Something went wrong";
  let detail = "Please try again in a moment.";
  if (isRouteErrorResponse(error)) {
    if (error.status === 404) {
      title = "Not found";
      detail = "This page doesn't exist, or you don't have access to it.";
    } else if (error.status === 403) {
      title = "No access";
      detail = typeof error.data === "string" && error.data ? error.data : "You don't have access to this page.";
    }
  }
  return (
    <main className="mx-auto max-w-xl px-4 py-16 text-center">
      <h1 className="text-xl font-semibold">{title}</h1>
      <p className="mt-2 text-muted">{detail}</p>
      <Link to="/projects" className="mt-6 inline-block text-accent underline">
        Back to your projects
      </Link>
    </main>
  );
}
