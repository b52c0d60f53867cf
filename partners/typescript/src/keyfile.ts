/**
 * The partner key file `coalition-partner keygen` writes (partners/keyfile.py): one JSON object
 *   {"partner_id": "acme", "key_id": "acme-2025-01", "private_key_pem": "-----BEGIN PRIVATE KEY-----...", "target": "host:port"}
 * owner-only (0600); refused when group or others may read it, like an ssh key.
 */
import { readFileSync, statSync } from "node:fs";
import type { KeyObject } from "node:crypto";
import { privateKeyFromPem } from "./signing.js";

const ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface KeyFile {
  partnerId: string;
  keyId: string;
  privateKey: KeyObject;
  target: string;
}

export function loadKeyFile(path: string, options: { checkPermissions?: boolean } = {}): KeyFile {
  if ((options.checkPermissions ?? true) && process.platform !== "win32" && (statSync(path).mode & 0o077) !== 0) {
    throw new Error(`key file ${path} is accessible by group or others; chmod 600 it`);
  }
  const data: unknown = JSON.parse(readFileSync(path, "utf8"));
  if (typeof data !== "object" || data === null) throw new Error(`key file ${path} must hold a JSON object`);
  const fields = data as Record<string, unknown>;
  const text = (name: string, required: boolean): string => {
    const value = fields[name] ?? "";
    if (typeof value !== "string" || (required && !value)) throw new Error(`key file ${path} lacks ${name}`);
    return value;
  };
  const keyId = text("key_id", true);
  if (!ID.test(keyId)) throw new Error("key_id must be 1..64 characters of [A-Za-z0-9._:-]");
  return {
    partnerId: text("partner_id", false),
    keyId,
    privateKey: privateKeyFromPem(text("private_key_pem", true)),
    target: text("target", false),
  };
}
