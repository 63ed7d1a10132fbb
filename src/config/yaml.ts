// deno.json maps "yaml" to the package's ES module build (browser/), not the CommonJS one npm resolves for
// Deno: that one requires node:process and node:buffer, which makes `deno bundle` load Node compatibility
// (node:module's createRequire) at start-up, about 3 MB resident for good. Its types are the same file set's.
// @ts-types="../../node_modules/yaml/dist/index.d.ts"
import { parseAllDocuments } from "yaml";
import { isObject } from "./_fields.ts";
import { objectRef, STATUS_KINDS } from "./_objects.ts";
import type { FileObject } from "./build.ts";
import type { ObjectRef, Rejection } from "./model.ts";

/** What {@link parseConfigFile} found in one file. */
export interface ConfigFile {
  /** Documents of metallb.io kinds, to pass to `buildModel` as `files`. */
  readonly objects: readonly FileObject[];
  /** Documents that are not YAML or not objects. */
  readonly rejected: readonly Rejection[];
  /** Documents of other kinds (Deployments, Namespaces... as in MetalLB's samples), skipped; worth a debug line. */
  readonly ignored: readonly ObjectRef[];
}

/** Largest `--config` file read; MetalLB configurations are a few kilobytes. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

function fileRejection(file: string, index: number, reason: string, ref?: ObjectRef): Rejection {
  return {
    ref: ref ?? { kind: "", namespace: "", name: "" },
    source: "file",
    file,
    code: "InvalidDocument",
    reason: `document ${index + 1}: ${reason}`,
  };
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.trim();
}

/**
 * Splits a YAML file of many documents (`---`) into MetalLB objects. Never throws: a document that is not valid
 * YAML becomes a rejection and the others are still read; empty documents are skipped; documents of other API
 * groups, and metallb.io kinds metallite does not read (ServiceL2Status, ConfigurationState...), are listed in
 * `ignored`. The old ConfigMap format (MetalLB before 0.13) is ignored too: convert it with MetalLB's tool.
 *
 * @example
 * ```ts
 * const { objects } = parseConfigFile(await Deno.readTextFile(path), { file: path });
 * ```
 */
export function parseConfigFile(text: string, options: { readonly file: string }): ConfigFile {
  const { file } = options;
  const objects: FileObject[] = [];
  const rejected: Rejection[] = [];
  const ignored: ObjectRef[] = [];
  if (text.length > MAX_CONFIG_FILE_BYTES) {
    return {
      objects,
      rejected: [fileRejection(file, 0, `the file is larger than ${MAX_CONFIG_FILE_BYTES} bytes`)],
      ignored,
    };
  }
  let documents: ReturnType<typeof parseAllDocuments>;
  try {
    documents = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: true });
  } catch (error) {
    return { objects, rejected: [fileRejection(file, 0, firstLine(String((error as Error).message)))], ignored };
  }
  const list = Array.isArray(documents) ? documents : [];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      rejected.push(fileRejection(file, index, `not valid YAML: ${firstLine(doc.errors[0]!.message)}`));
      return;
    }
    let value: unknown;
    try {
      // maxAliasCount bounds "billion laughs" documents.
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      rejected.push(fileRejection(file, index, firstLine((error as Error).message)));
      return;
    }
    if (value === null || value === undefined) return;
    if (!isObject(value)) {
      rejected.push(fileRejection(file, index, "it is not an object with apiVersion and kind"));
      return;
    }
    const ref = objectRef(value);
    const apiVersion = typeof value.apiVersion === "string" ? value.apiVersion : "";
    if (apiVersion === "" || ref.kind === "") {
      rejected.push(fileRejection(file, index, "it has no apiVersion or no kind", ref));
      return;
    }
    // Unknown metallb.io kinds go on, to be rejected by name: a typo in a kind must not pass silently.
    const ours = apiVersion.startsWith("metallb.io/") && !STATUS_KINDS.has(ref.kind);
    if (ours) objects.push({ file, object: value });
    else ignored.push(ref);
  });
  return { objects, rejected, ignored };
}
