import { formatPinoLine, paint, prefixColor, shouldColor, type LineFormatter } from "./log-format.js";

/** Writes one line of one source's output. */
export type LinePrinter = (line: string) => void;

// Fixed so the columns line up: the longest source names are a replica's, "shipping-2" or "notifier-2".
const prefixWidth = 12;
const colorIndexes = new Map<string, number>();

/** A printer that writes `[source] <formatted line>` to stdout, each source in its own colour. */
export function createPrinter(source: string, format: LineFormatter = formatPinoLine, stream: NodeJS.WriteStream = process.stdout): LinePrinter {
  const color = shouldColor(stream);
  if (!colorIndexes.has(source)) colorIndexes.set(source, colorIndexes.size);
  const prefix = paint(`[${source}]`.padEnd(prefixWidth), prefixColor(colorIndexes.get(source) ?? 0), color);
  return (line) => {
    if (line.trim() === "") return;
    stream.write(`${prefix} ${format(line, color)}\n`);
  };
}
