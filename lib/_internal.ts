/**
 * Small helpers shared by sluice's modules. Not part of the public API: names
 * and shapes here may change in any release.
 * @module
 */

/** A short, human description of a value for error messages: `number 0`, `string "abc"`, `ArrayBuffer`. */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "number":
    case "bigint":
    case "boolean":
      return `${typeof value} ${String(value)}`;
    case "string":
      return `string ${JSON.stringify(value.length > 20 ? value.slice(0, 20) + "…" : value)}`;
    case "object": {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === "string" && name !== "" ? name : "object";
    }
    default:
      return typeof value;
  }
}
