// @peculiar/x509 resolves its ASN.1 and crypto providers through tsyringe, which needs this polyfill first.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { serviceUriPrefix } from "../platform/identity/index.js";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

const keyAlgorithm = { name: "ECDSA", namedCurve: "P-256" } as const;
const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" } as const;

/** PEM files of one certificate and its key. */
export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

/** A certificate authority in memory that can issue service certificates. */
export interface CertificateAuthority {
  certPem: string;
  keyPem: string;
  /** Issues a certificate naming the service (CN, DNS and spiffe://ordermesh/<service> URI SANs) for server and client use. */
  issue(service: string, extraDnsNames?: readonly string[]): Promise<{ certPem: string; keyPem: string }>;
}

/** Creates a fresh CA (ECDSA P-256, valid ten years); its key never leaves the data folder. */
export async function createCertificateAuthority(name: string): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${name}`,
    keys,
    signingAlgorithm,
    notBefore: minutesAgo(5),
    notAfter: yearsFromNow(10),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return fromKeys(ca, keys.privateKey, await pkcs8Pem(keys.privateKey));
}

/** Reads a CA written by writeCertificateAuthority. */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const der = x509.PemConverter.decodeFirst(keyPem);
  const key = await webcrypto.subtle.importKey("pkcs8", der, keyAlgorithm, false, ["sign"]);
  return fromKeys(cert, key, keyPem);
}

function fromKeys(ca: x509.X509Certificate, caKey: CryptoKey, caKeyPem: string): CertificateAuthority {
  return {
    certPem: ca.toString("pem"),
    keyPem: caKeyPem,
    async issue(service, extraDnsNames = []) {
      const keys = await webcrypto.subtle.generateKey(keyAlgorithm, true, ["sign", "verify"]);
      const cert = await x509.X509CertificateGenerator.create({
        subject: `CN=${service}`,
        issuer: ca.subject,
        publicKey: keys.publicKey,
        signingKey: caKey,
        signingAlgorithm,
        notBefore: minutesAgo(5),
        notAfter: yearsFromNow(2),
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          // The DNS names are what clients dial (compose service names, localhost); the URI is the identity servers check.
          new x509.SubjectAlternativeNameExtension([
            ...[service, "localhost", ...extraDnsNames].map((value) => ({ type: "dns" as const, value })),
            { type: "ip", value: "127.0.0.1" },
            { type: "ip", value: "::1" },
            { type: "url", value: `${serviceUriPrefix}${service}` },
          ]),
          await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey),
        ],
      });
      return { certPem: cert.toString("pem"), keyPem: await pkcs8Pem(keys.privateKey) };
    },
  };
}

/** Where ensureDevCertificates keeps the mesh's CA and each service's certificate. */
export interface DevCertificates {
  caFile: string;
  services: Record<string, CertificateFiles>;
}

/**
 * The per-mesh dev CA and one certificate per service under `dir`, created on first use and reused
 * afterwards (so a client that trusts the CA keeps trusting it); a service missing its files gets new ones.
 */
export async function ensureDevCertificates(dir: string, services: readonly string[]): Promise<DevCertificates> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, "ca.crt");
  const caKeyFile = join(dir, "ca.key");
  const ca = existsSync(caFile) && existsSync(caKeyFile)
    ? await loadCertificateAuthority(await readFile(caFile, "utf8"), await readFile(caKeyFile, "utf8"))
    : await writeAuthority(caFile, caKeyFile);
  const files: Record<string, CertificateFiles> = {};
  for (const service of services) {
    const certFile = join(dir, `${service}.crt`);
    const keyFile = join(dir, `${service}.key`);
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      const issued = await ca.issue(service);
      await writePrivate(keyFile, issued.keyPem);
      await writeFile(certFile, issued.certPem);
    }
    files[service] = { certFile, keyFile };
  }
  return { caFile, services: files };
}

async function writeAuthority(caFile: string, caKeyFile: string): Promise<CertificateAuthority> {
  const ca = await createCertificateAuthority("ordermesh dev CA");
  await writePrivate(caKeyFile, ca.keyPem);
  await writeFile(caFile, ca.certPem);
  return ca;
}

async function writePrivate(path: string, pem: string): Promise<void> {
  await writeFile(path, pem, { mode: 0o600 });
  await chmod(path, 0o600);
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

function minutesAgo(minutes: number): Date {
  return new Date(Date.now() - minutes * 60_000);
}

function yearsFromNow(years: number): Date {
  const date = new Date();
  date.setFullYear(date.getFullYear() + years);
  return date;
}
