// Copies the pinned libraries' built files (and their licences) from node_modules into static/vendor/.
// Run after `npm ci`: `npm run vendor`. tests/ui/test_assets.py checks the copies match package-lock.json.
import { copyFileSync, mkdirSync } from "node:fs";

const files = [
  ["node_modules/d3/dist/d3.min.js", "static/vendor/d3.min.js"],
  ["node_modules/d3/LICENSE", "static/vendor/d3.LICENSE.txt"],
  ["node_modules/@observablehq/plot/dist/plot.umd.min.js", "static/vendor/plot.umd.min.js"],
  ["node_modules/@observablehq/plot/LICENSE", "static/vendor/plot.LICENSE.txt"],
];
mkdirSync("static/vendor", { recursive: true });
for (const [from, to] of files) {
  copyFileSync(from, to);
  console.log(`${from} -> ${to}`);
}
