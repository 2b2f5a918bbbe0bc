/**
 * `npm run gen:config`: writes config/config.yaml and docs/CONFIG.md from the settings schema in
 * server/config.ts (see its header for how to add a setting).
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { configReference, configYaml } from "../server/_config_doc.ts";

const ROOT = join(import.meta.dir, "..");
writeFileSync(join(ROOT, "config", "config.yaml"), configYaml());
writeFileSync(join(ROOT, "docs", "CONFIG.md"), configReference());
console.log("Wrote config/config.yaml and docs/CONFIG.md");
