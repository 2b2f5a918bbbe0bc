/**
 * Run as a child with BUN_JSC_logGC=1 by sql_filter_test.ts: evaluates compiled SQL92 filters
 * 2,000,000 times between two marks on stderr, so the GCs logged between them show whether
 * evaluation allocates (one small object an evaluation would be dozens of collections).
 */
import { encodeProperties } from "../../../core/model/properties.ts";
import { compileSqlFilter } from "../../../core/model/sql_filter.ts";

const enc = new TextEncoder();
const texts = Array.from({ length: 8 }, (_, i) =>
  enc.encode(encodeProperties({ TAGS: "TagA", KEYS: `k${i}`, region: i % 2 ? "eu" : "us", amount: String(i * 70), price: `${i}.25` })));
const filters = [
  "region = 'eu' AND amount > 100",
  "TAGS IN ('TagA', 'TagB') AND amount BETWEEN 10 AND 400",
  "price > 3.5 OR region IS NULL",
  "KEYS STARTSWITH 'k1' OR -amount < -5 OR region <> 'x'",
].map(compileSqlFilter);
let kept = 0;
const run = (n: number) => {
  for (let i = 0; i < n; i++) if (filters[i & 3]!.matches(texts[(i >> 2) & 7]!, 0, texts[(i >> 2) & 7]!.length)) kept++;
};
run(200_000);
Bun.gc(true);
console.error("PROBE START");
run(2_000_000);
console.error("PROBE END");
console.log(kept);
