// A throwaway self-signed certificate for 127.0.0.1 and localhost, made with
// openssl at test start-up into a temporary folder, so the HTTPS/HTTP/2 test
// servers work on any machine without a checked-in key.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Certificate {
  key: Buffer;
  cert: Buffer;
}

/** Makes a fresh RSA key and certificate (valid two days) and removes the files again. */
export function makeCertificate(): Certificate {
  const dir = mkdtempSync(join(tmpdir(), "sluice-cert-"));
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
      "-days", "2", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
      // Not a CA: rustls (Deno) refuses a CA certificate used as the server's own.
      "-addext", "basicConstraints=critical,CA:FALSE",
      "-addext", "extendedKeyUsage=serverAuth",
    ], { stdio: ["ignore", "ignore", "pipe"] });
    return { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
