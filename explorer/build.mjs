// Builds the explorer into dist/: the bundle (esbuild), index.html and style.css. The
// config.json that names the canisters and the replica is served beside them (the devnet
// generates it; for an asset canister, EMC_EXPLORER_CONFIG names the file to ship as
// config.json: scripts/dfx-deploy.sh writes it with the deployed canisters' ids).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";

const dist = new URL("./dist/", import.meta.url);
rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: false,
  outfile: "dist/app.js",
  logLevel: "warning",
});
for (const f of ["index.html", "style.css"]) {
  copyFileSync(new URL(`./src/${f}`, import.meta.url), new URL(f, dist));
}
// A deployment's config (scripts/dfx-deploy.sh writes one for the asset canister).
if (process.env.EMC_EXPLORER_CONFIG) {
  copyFileSync(process.env.EMC_EXPLORER_CONFIG, new URL("config.json", dist));
}
console.log("explorer: built dist/");
