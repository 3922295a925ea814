/**
 * The gateway's certificate: given files, or (`gateway.tls: auto`) a self-signed one made
 * once under `STORAGE/tls/` and kept, whose SHA-256 fingerprint clients pin.
 *
 * The X.509 work is @peculiar/x509's over WebCrypto. The certificate says `CA:FALSE`:
 * Deno's TLS (rustls) refuses a self-signed certificate marked as a CA as its own root.
 *
 * @module
 */
import type { TlsConfig } from "../config.ts";
import { logger } from "../log.ts";
import { joinPath as join } from "../paths.ts";

const log = logger("gateway", "tls");

/** A certificate and its key, PEM, and the certificate's fingerprint. */
export interface TlsCertificate {
  cert: string;
  key: string;
  /** SHA-256 of the certificate (DER), as colon-separated hex. */
  fingerprint: string;
  /** Where it came from: made now, kept from an earlier start, or configured. */
  source: "made" | "kept" | "files";
}

/** Colon-separated uppercase hex of the SHA-256 of a PEM certificate's DER. */
export async function certificateFingerprint(pem: string): Promise<string> {
  const base64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.fromBase64(base64);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  return [...digest].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

function pem(label: string, der: ArrayBuffer): string {
  const base64 = new Uint8Array(der).toBase64();
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Names and addresses a self-signed certificate vouches for: loopback and this machine's. */
function subjectNames(): { type: "ip" | "dns"; value: string }[] {
  const names: { type: "ip" | "dns"; value: string }[] = [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "::1" },
  ];
  try {
    names.push({ type: "dns", value: Deno.hostname() });
    for (const address of Deno.networkInterfaces()) {
      if (!names.some((n) => n.value === address.address)) {
        names.push({ type: "ip", value: address.address.replace(/%.*$/, "") });
      }
    }
  } catch {
    // No permission to read them: loopback only.
  }
  return names;
}

/** Makes a self-signed ECDSA P-256 certificate for this machine, valid ten years. */
export async function makeSelfSigned(): Promise<{ cert: string; key: string }> {
  // @peculiar/x509 resolves its parts through tsyringe, which needs this polyfill first.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(crypto);
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.getRandomValues(new Uint8Array(8)).toHex().replace(/^[89a-f]/, "1"),
    name: "CN=robot-agent",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(subjectNames()),
    ],
  });
  const key = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: certificate.toString("pem") + "\n", key: pem("PRIVATE KEY", key) };
}

/**
 * The certificate for `gateway.tls`, or undefined when it is off. With `auto`, one made
 * at a first start is kept in `STORAGE/tls/` (the key mode 0600) and used again.
 */
export async function loadCertificate(
  tls: TlsConfig,
  storage: string,
): Promise<TlsCertificate | undefined> {
  if (tls === "off") return undefined;
  if (tls !== "auto") {
    const [cert, key] = await Promise.all([
      Deno.readTextFile(tls.cert_file),
      Deno.readTextFile(tls.key_file),
    ]);
    return { cert, key, fingerprint: await certificateFingerprint(cert), source: "files" };
  }
  const dir = join(storage, "tls");
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  try {
    const [cert, key] = await Promise.all([
      Deno.readTextFile(certFile),
      Deno.readTextFile(keyFile),
    ]);
    return { cert, key, fingerprint: await certificateFingerprint(cert), source: "kept" };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const made = await makeSelfSigned();
  await Deno.writeTextFile(keyFile, made.key, { mode: 0o600 });
  await Deno.chmod(keyFile, 0o600);
  await Deno.writeTextFile(certFile, made.cert);
  const fingerprint = await certificateFingerprint(made.cert);
  log.info("Made a self-signed certificate: SHA-256 {fingerprint}", { fingerprint });
  return { ...made, fingerprint, source: "made" };
}
