// The workerd project: the test files run inside Cloudflare's Workers runtime
// through @cloudflare/vitest-pool-workers, configured inline (no wrangler
// file). workerd cannot listen, so the servers the tests need run in the
// Vitest process (test/_support/global_setup.ts) and are reached over loopback.
import type { TestProjectInlineConfiguration } from "vitest/config";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCertificate } from "../_support/servers/cert.ts";

/**
 * workerd's network trusts the system's CAs plus those of NODE_EXTRA_CA_CERTS,
 * which miniflare reads once, when it is loaded; and the pool cannot swap the
 * network service for one with trusted certificates. So the test servers'
 * certificate is made first, handed to miniflare that way and to the servers
 * through SLUICE_TEST_CERT_DIR (test/_support/servers/server_set.ts), and removed
 * when the process exits.
 */
function shareCertificate(): void {
  if (process.env.SLUICE_TEST_CERT_DIR) return;
  const dir = mkdtempSync(join(tmpdir(), "sluice-workerd-cert-"));
  const { key, cert } = makeCertificate();
  writeFileSync(join(dir, "key.pem"), key);
  writeFileSync(join(dir, "cert.pem"), cert);
  process.env.SLUICE_TEST_CERT_DIR = dir;
  process.env.NODE_EXTRA_CA_CERTS = join(dir, "cert.pem");
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
}

/** The Vitest project `workerd`, with the given test options (include globs, setup, timeouts). */
export async function workerdProject(test: NonNullable<TestProjectInlineConfiguration["test"]>): Promise<TestProjectInlineConfiguration> {
  shareCertificate();
  // Loaded only for runs that include this project: the pool takes seconds to import.
  const { cloudflareTest } = await import("@cloudflare/vitest-pool-workers");
  return {
    plugins: [
      cloudflareTest({
        // The README's "In a Worker" example, reached by the tests as SELF.
        main: "./test/workerd/readme_worker.ts",
        miniflare: { compatibilityDate: "2026-08-01", compatibilityFlags: ["nodejs_compat"] },
      }),
    ],
    test: { ...test, name: "workerd" },
  };
}
