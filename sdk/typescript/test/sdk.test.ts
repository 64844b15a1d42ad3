// Runs against a live authd: AUTHD_URL and AUTHD_API_KEY (an admin key).
import { test } from "node:test";
import assert from "node:assert/strict";
import { example } from "../examples/users.js";
import { createAuthdClient } from "../src/index.js";

const url = process.env.AUTHD_URL ?? "";
const key = process.env.AUTHD_API_KEY ?? "";

test("the example creates and lists a user", async () => {
  const users = await example(url, key, "ts-sdk@example.com");
  assert.ok(users.some((u) => u.email === "ts-sdk@example.com"));
});

test("a duplicate is a 409 problem document", async () => {
  const authd = createAuthdClient(url, key);
  const r = await authd.POST("/api/v1/users", { body: { email: "TS-SDK@example.com" } });
  assert.equal(r.response.status, 409);
  assert.equal(r.error?.status, 409);
  assert.equal(r.response.headers.get("content-type"), "application/problem+json");
});

test("a bad key is a 401 problem document", async () => {
  const r = await createAuthdClient(url, "authd_bad").GET("/api/v1/users", {});
  assert.equal(r.response.status, 401);
  assert.equal(r.error?.status, 401);
});

test("get by id and patch with If-Match", async () => {
  const authd = createAuthdClient(url, key);
  const list = await authd.GET("/api/v1/users", { params: { query: { email: "ts-sdk@example.com" } } });
  const id = list.data!.items[0].id;
  const got = await authd.GET("/api/v1/users/{id}", { params: { path: { id } } });
  const etag = got.response.headers.get("etag") ?? "";
  const patched = await authd.PATCH("/api/v1/users/{id}", {
    params: { path: { id }, header: { "If-Match": etag } },
    body: { department: "R&D" },
    headers: { "Content-Type": "application/merge-patch+json" },
  });
  assert.equal(patched.data?.department, "R&D");
});
