import { type ActionFunctionArgs, redirect } from "@remix-run/node";
import { sessionTokenFrom } from "../lib/session.server";

export async function action({ context, request }: ActionFunctionArgs) {
  const token = sessionTokenFrom(request);
  if (token) await context.services.auth.deleteSession(token);
  throw redirect("/login", { headers: { "Set-Cookie": context.cookies.clear() } });
}

export async function loader() {
  throw redirect("/projects");
}
