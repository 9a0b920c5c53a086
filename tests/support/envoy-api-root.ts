import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, sep } from "node:path";
import protobuf from "protobufjs";

// @grpc/grpc-js-xds vendors Envoy's API protos with their xds/udpa, protoc-gen-validate and googleapis
// imports; protobufjs ships descriptor.proto and friends, which a few Envoy annotations import.
const xdsDeps = join(dirname(createRequire(import.meta.url).resolve("@grpc/grpc-js-xds/package.json")), "deps");
const protobufjsDir = dirname(createRequire(import.meta.url).resolve("protobufjs/package.json"));
const includeDirs = ["envoy-api", "xds", "protoc-gen-validate", "googleapis"].map((dir) => join(xdsDeps, dir));
const searchPath = [...includeDirs, protobufjsDir];

// protobufjs answers these from its own bundled JSON, whatever the include path says.
const bundled = new Set(
  ["any", "duration", "empty", "field_mask", "struct", "timestamp", "wrappers"].map((name) => `google/protobuf/${name}.proto`),
);

let cached: protobuf.Root | undefined;

/** Envoy's v3 API (plus xds/udpa types) as one resolved protobufjs Root with proto field names kept. */
export function loadEnvoyApi(): protobuf.Root {
  cached ??= buildRoot();
  return cached;
}

function buildRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => locate(target) ?? target;
  const loadable = [...protoFiles(join(xdsDeps, "envoy-api")), ...protoFiles(join(xdsDeps, "xds"))].filter((file) =>
    importsResolve(file, new Set()),
  );
  root.loadSync(loadable.map((file) => locate(file) ?? file), { keepCase: true });
  root.resolveAll();
  return root;
}

function locate(importPath: string): string | undefined {
  if (bundled.has(importPath)) return importPath;
  for (const dir of searchPath) {
    const candidate = join(dir, importPath);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".proto"))
    .map((file) => file.split(sep).join("/"));
}

const importsResolveMemo = new Map<string, boolean>();

// The vendored tree also holds v2 API and tracer protos whose imports (opencensus, the removed v2
// core) are not shipped; loading them would fail, and a v3 bootstrap never references them.
function importsResolve(importPath: string, visiting: Set<string>): boolean {
  if (bundled.has(importPath) || visiting.has(importPath)) return true;
  const memo = importsResolveMemo.get(importPath);
  if (memo !== undefined) return memo;
  const file = locate(importPath);
  let ok = file !== undefined;
  if (file !== undefined) {
    visiting.add(importPath);
    const imports = readFileSync(file, "utf8").matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)"/gm);
    ok = [...imports].every((match) => importsResolve(match[1] ?? "", visiting));
    visiting.delete(importPath);
  }
  importsResolveMemo.set(importPath, ok);
  return ok;
}
