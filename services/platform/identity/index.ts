// Public surface of platform/identity: Who is calling: bearer tokens (JWT), service identities from mTLS certificates, TLS configuration and access policies.
export { callerKey, callerOf, mayActFor, unauthenticatedAdmin } from "./caller.js";
export type { Caller } from "./caller.js";
export { createCallerAuthenticator } from "./jwt-auth.js";
export type { CallerAuthenticator } from "./jwt-auth.js";
export { servicePeerOf, serviceUriPrefix } from "./peer-identity.js";
export type { ServicePeer } from "./peer-identity.js";
export { isLoopback, loadTlsConfig } from "./tls-config.js";
export type { KeyPair, ReadFile, TlsConfig } from "./tls-config.js";
