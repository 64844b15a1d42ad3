// Creates a user and lists the users of its organization.
//   AUTHD_URL=http://127.0.0.1:8080 AUTHD_API_KEY=authd_... node dist/examples/users.js
import { createAuthdClient, type User } from "../src/index.js";

export async function example(baseUrl: string, apiKey: string, email: string): Promise<User[]> {
  const authd = createAuthdClient(baseUrl, apiKey);
  const created = await authd.POST("/api/v1/users", {
    body: { email, name: "Ada Lovelace", organization: "engineering" },
  });
  if (created.error) {
    throw new Error(`create: ${created.error.status} ${created.error.detail ?? created.error.title}`);
  }
  const list = await authd.GET("/api/v1/users", {
    params: { query: { organization: "engineering", limit: 50 } },
  });
  if (list.error) {
    throw new Error(`list: ${list.error.status} ${list.error.detail ?? list.error.title}`);
  }
  return list.data.items;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const users = await example(process.env.AUTHD_URL ?? "http://127.0.0.1:8080", process.env.AUTHD_API_KEY ?? "",
    process.env.EMAIL ?? "ada@example.com");
  console.log(users.map((u) => `${u.id} ${u.email}`).join("\n"));
}
