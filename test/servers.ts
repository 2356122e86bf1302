// Global setup for every test project: starts the local servers that network
// tests talk to and hands their addresses to the tests through `inject`.
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    runtime: string;
  }
}

export default async function setup(project: TestProject) {
  project.provide("runtime", project.name);
  return async () => {};
}
