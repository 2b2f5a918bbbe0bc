/**
 * A throwaway self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM texts and their files. */
export interface TestCert {
  dir: string;
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  remove(): void;
}

/**
 * Generates an RSA-2048 self-signed certificate valid for a day.
 *
 * @returns The certificate, its key and where they were written.
 */
export function makeTestCert(): TestCert {
  const dir = mkdtempSync(join(tmpdir(), "rmq-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    // A leaf, not a CA: rustls (Deno) refuses a CA certificate used as the server's own.
    "-addext", "basicConstraints=critical,CA:FALSE", "-days", "1",
    "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  return {
    dir,
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    certFile,
    keyFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
