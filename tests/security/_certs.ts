/**
 * Throwaway certificates for 127.0.0.1 and localhost, made with the openssl CLI: a self-signed one,
 * or a CA and the leaf certificates it issues (for mutual TLS).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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

/** A throwaway certificate authority that issues leaf certificates for 127.0.0.1 and localhost. */
export interface TestCa extends TestCert {
  /**
   * Issues an RSA-2048 leaf certificate signed by this CA, good as a TLS server's and a TLS
   * client's (extended key usage serverAuth and clientAuth), valid for a day.
   *
   * @param name The subject's common name (also the files' names).
   * @returns The certificate, its key and where they were written.
   */
  issue(name: string): TestCert;
}

/**
 * Generates a self-signed CA certificate (RSA-2048, a day) with the openssl CLI.
 *
 * @param name The CA's common name.
 * @returns The CA, able to issue leaf certificates.
 */
export function makeTestCa(name = "rmq test CA"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "rmq-ca-"));
  const certFile = join(dir, "ca.pem");
  const keyFile = join(dir, "ca.key");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-days", "1",
    "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  const issue = (leaf: string): TestCert => {
    const base = join(dir, leaf.replace(/[^A-Za-z0-9_-]/g, "_"));
    const [leafCert, leafKey, csr, ext] = [`${base}.pem`, `${base}.key`, `${base}.csr`, `${base}.ext`];
    execFileSync("openssl", ["req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${leaf}`, "-keyout", leafKey, "-out", csr], { stdio: "ignore" });
    writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n");
    execFileSync("openssl", [
      "x509", "-req", "-in", csr, "-CA", certFile, "-CAkey", keyFile, "-CAcreateserial", "-days", "1", "-extfile", ext, "-out", leafCert,
    ], { stdio: "ignore" });
    return {
      dir,
      cert: readFileSync(leafCert, "utf8"),
      key: readFileSync(leafKey, "utf8"),
      certFile: leafCert,
      keyFile: leafKey,
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  };
  return {
    dir,
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    certFile,
    keyFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
    issue,
  };
}
