/**
 * `npm run gen:config`: writes config/config.yaml, docs/CONFIG.md and server/config_types.ts from
 * the settings schema in server/config.ts (see its header for how to add a setting).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { configReference, configTypes, configYaml } from "../server/_config_doc.ts";

const ROOT = join(import.meta.dir, "..");
writeFileSync(join(ROOT, "config", "config.yaml"), configYaml());
writeFileSync(join(ROOT, "docs", "CONFIG.md"), configReference());
writeFileSync(join(ROOT, "server", "config_types.ts"), configTypes());
console.log("Wrote config/config.yaml, docs/CONFIG.md and server/config_types.ts");
