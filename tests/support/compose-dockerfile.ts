// A Dockerfile read as stages of instructions; enough to check how the image is built and run.

interface Stage {
  from: string;
  name: string | undefined;
  instructions: { keyword: string; args: string }[];
}

/** Problems with the app image: multi-stage, built once, production deps only, non-root, pinned base. */
export function dockerfileProblems(source: string): string[] {
  const { stages, args } = parseDockerfile(source);
  const problems: string[] = [];
  if (stages.length < 2) problems.push("Dockerfile: not multi-stage; build tools and dev dependencies would ship in the image");
  for (const stage of stages) {
    const image = stage.from.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => args.get(braced ?? bare ?? "") ?? "");
    const isStageRef = stages.some((other) => other.name === image);
    if (!isStageRef && (!image.includes(":") || /latest/.test(image))) problems.push(`Dockerfile: base image "${image}" is not pinned to a version`);
  }
  const runs = (stage: Stage) => stage.instructions.filter((i) => i.keyword === "RUN").map((i) => i.args);
  if (!stages.some((stage) => runs(stage).some((run) => /npm run build/.test(run)))) problems.push("Dockerfile: no stage runs npm run build");
  const prodDeps = stages.find((stage) => runs(stage).some((run) => /npm ci\b.*--omit=dev/.test(run)));
  if (prodDeps === undefined) problems.push("Dockerfile: no stage installs production dependencies only (npm ci --omit=dev)");
  const final = stages.at(-1);
  if (final !== undefined) {
    const copies = final.instructions.filter((i) => i.keyword === "COPY").map((i) => i.args);
    if (prodDeps?.name && !copies.some((copy) => copy.includes(`--from=${prodDeps.name}`) && copy.includes("node_modules"))) {
      problems.push(`Dockerfile: the runtime stage does not take node_modules from ${prodDeps.name}`);
    }
    if (runs(final).some((run) => /npm (ci|install)\b/.test(run) && !/--omit=dev/.test(run))) {
      problems.push("Dockerfile: the runtime stage installs dev dependencies");
    }
    const user = final.instructions.filter((i) => i.keyword === "USER").at(-1)?.args.trim();
    if (user === undefined || user === "root" || user === "0" || user.startsWith("0:")) {
      problems.push("Dockerfile: the runtime stage runs as root; add USER with an unprivileged user");
    }
  }
  return problems;
}

function parseDockerfile(source: string): { stages: Stage[]; args: Map<string, string> } {
  const lines = source
    .split("\n")
    .filter((line) => !/^\s*#/.test(line))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  const args = new Map<string, string>();
  for (const line of lines) {
    const [keyword = "", ...rest] = line.split(/\s+/);
    const upper = keyword.toUpperCase();
    const argsText = rest.join(" ");
    if (upper === "FROM") {
      const match = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(argsText);
      stages.push({ from: match?.[1] ?? "", name: match?.[2], instructions: [] });
    } else if (upper === "ARG" && stages.length === 0) {
      const [name = "", value = ""] = argsText.split("=");
      args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push({ keyword: upper, args: argsText });
    }
  }
  return { stages, args };
}
