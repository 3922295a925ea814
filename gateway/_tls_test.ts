import assert from "node:assert/strict";
import { certificateFingerprint, loadCertificate } from "./_tls.ts";

Deno.test("loadCertificate makes a CA:FALSE certificate once under STORAGE/tls and keeps it", async () => {
  const storage = await Deno.makeTempDir({ prefix: "tls-" });
  try {
    const made = await loadCertificate("auto", storage);
    assert.equal(made?.source, "made");
    assert.match(made!.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal((await Deno.stat(`${storage}/tls/key.pem`)).mode! & 0o777, 0o600);
    const kept = await loadCertificate("auto", storage);
    assert.equal(kept?.source, "kept");
    assert.equal(kept?.fingerprint, made!.fingerprint);
    const text = await new Deno.Command("openssl", {
      args: ["x509", "-noout", "-text", "-in", `${storage}/tls/cert.pem`],
    }).output();
    const dump = new TextDecoder().decode(text.stdout);
    assert.match(dump, /CA:FALSE/);
    assert.match(dump, /IP Address:127\.0\.0\.1/);
    const der = await new Deno.Command("openssl", {
      args: ["x509", "-noout", "-fingerprint", "-sha256", "-in", `${storage}/tls/cert.pem`],
    }).output();
    assert.equal(new TextDecoder().decode(der.stdout).trim().split("=")[1], made!.fingerprint);
    assert.equal(await certificateFingerprint(made!.cert), made!.fingerprint);
    assert.equal(await loadCertificate("off", storage), undefined);
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
