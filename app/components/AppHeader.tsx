import { Form, Link } from "@remix-run/react";
import { type ReactNode } from "react";

export type HeaderUser = { name: string; email: string; role: string };

/** "Pairwise · Project" on the left, optional live figures, then the user menu. */
export function AppHeader({ user, project, children }: { user: HeaderUser | null; project?: { id: number; name: string } | null; children?: ReactNode }) {
  return (
    <header className="sticky top-0 z-30 border-b border-line bg-surface">
      <div className="mx-auto flex h-12 max-w-[1600px] items-center gap-3 px-4">
        <Link to="/projects" className="font-semibold tracking-tight">
          Pairwise
        </Link>
        {project ? (
          <>
            <span aria-hidden className="text-muted">
              ·
            </span>
            <Link to={`/projects/${project.id}`} className="min-w-0 truncate text-sm text-muted hover:text-ink" data-testid="header-project">
              {project.name}
            </Link>
          </>
        ) : null}
        <div className="ml-auto flex items-center gap-3">
          {children}
          {user ? <UserMenu user={user} /> : null}
        </div>
      </div>
    </header>
  );
}

function UserMenu({ user }: { user: HeaderUser }) {
  return (
    <details className="relative">
      <summary className="flex cursor-pointer list-none items-center gap-2 rounded-md px-2 py-1 text-sm hover:bg-sunken" aria-label={`Account menu for ${user.name}`}>
        <span aria-hidden className="grid size-7 place-items-center rounded-full bg-accent-soft text-xs font-semibold uppercase">
          {user.name.slice(0, 1)}
        </span>
        <span className="max-w-[10rem] truncate max-sm:hidden">{user.name}</span>
      </summary>
      <div className="absolute right-0 mt-1 w-56 rounded-md border border-line bg-surface p-1 text-sm shadow-lg">
        <div className="border-b border-line px-3 py-2">
          <div className="truncate font-medium">{user.name}</div>
          <div className="truncate text-xs text-muted">
            {user.email} · {user.role}
          </div>
        </div>
        <Link to="/projects" className="block rounded px-3 py-2 hover:bg-sunken">
          Projects
        </Link>
        <Link to="/account/tokens" className="block rounded px-3 py-2 hover:bg-sunken">
          API tokens
        </Link>
        <Form method="post" action="/logout">
          <button type="submit" className="block w-full rounded px-3 py-2 text-left hover:bg-sunken">
            Sign out
          </button>
        </Form>
      </div>
    </details>
  );
}
