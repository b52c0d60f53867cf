// Mutual TLS against the real network server: tests/test_typescript_client.py starts one with certificates from the
// local CA (coalition.certificates) and runs these with COALITION_TLS_TARGET, the CA file and two partners'
// client certificates set: the key file's partner's own, and another partner's.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Code, CoalitionError, PartnerClient, loadKeyFile, newRequestId, type PartnerClientOptions } from "../src/index.js";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (tests/test_typescript_client.py does)`);
  return value;
};
const target = env("COALITION_TLS_TARGET");
const keyFile = loadKeyFile(env("COALITION_KEY_FILE"));
const ca = readFileSync(env("COALITION_TLS_CA_FILE"));
const own = { cert: readFileSync(env("COALITION_TLS_CLIENT_CERT_FILE")), key: readFileSync(env("COALITION_TLS_CLIENT_KEY_FILE")) };
const other = { cert: readFileSync(env("COALITION_TLS_OTHER_CERT_FILE")), key: readFileSync(env("COALITION_TLS_OTHER_KEY_FILE")) };

async function withClient<T>(options: PartnerClientOptions, use: (client: PartnerClient) => Promise<T>): Promise<T> {
  const client = new PartnerClient(target, keyFile.keyId, keyFile.privateKey, { timeoutMs: 10_000, ...options });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

test("mutual TLS: the partner's own certificate is accepted, another partner's refused", async () => {
  await withClient({ tls: { ca, ...own } }, async (client) => {
    const enrolled = await client.enrollMember({ customerRef: `ts-tls-${newRequestId().slice(0, 10)}` });
    assert.equal(enrolled.created, true);
    assert.ok(client.lastReceipt, "the receipt is verified over TLS too");
  });
  await withClient({ tls: { ca, ...other } }, async (client) => {
    await assert.rejects(client.enrollMember({ customerRef: "ts-tls-mismatch" }), (error: unknown) => {
      assert.ok(error instanceof CoalitionError);
      assert.equal(error.code, Code.PermissionDenied);
      assert.equal(error.reason, "CERTIFICATE_PARTNER_MISMATCH");
      return true;
    });
  });
});

test("mutual TLS: no client certificate, or no CA, and the call fails before reaching the network", async () => {
  // Without a client certificate the server ends the connection once TLS 1.3 hands it the (missing) certificate,
  // which Node sees as the HTTP/2 stream cancelled; without the CA Node refuses the server's certificate itself.
  const refusals: [PartnerClientOptions["tls"], Code, RegExp][] = [
    [{ ca }, Code.Canceled, /stream closed/],
    [{ ...own }, Code.Internal, /verify the first certificate/],
  ];
  for (const [tls, code, message] of refusals) {
    await withClient({ tls, maxAttempts: 1 }, async (client) => {
      await assert.rejects(client.getNetworkKeys(), (error: unknown) => {
        assert.ok(error instanceof CoalitionError);
        assert.equal(Code[error.code], Code[code]);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});
