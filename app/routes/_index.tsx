import { type LoaderFunctionArgs, redirect } from "@remix-run/node";

export async function loader({ context }: LoaderFunctionArgs) {
  throw redirect(context.user ? "/projects" : "/login");
}
