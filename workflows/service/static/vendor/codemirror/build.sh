#!/usr/bin/env bash
# Rebuilds ../codemirror.min.js and ../codemirror.LICENSE from the npm packages pinned in
# package.json / package-lock.json. Run from anywhere:
#   bash workflows/service/static/vendor/codemirror/build.sh
# Deterministic: the same lock file gives the same bytes. node_modules/ and meta.json stay
# here, untracked (.gitignore).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export LC_ALL=C

npm ci --no-audit --no-fund --loglevel=error

esbuild() { node_modules/.bin/esbuild "$@"; }
common=(entry.js --bundle --format=iife --minify --target=es2020 --charset=utf8
        --legal-comments=none --log-level=warning)

# Pass 1: which packages end up in the bundle (esbuild's metafile lists, for the output, every
# input file and how many bytes of it remain after tree shaking).
esbuild "${common[@]}" --metafile=meta.json --outfile=node_modules/.pass1.js

# From the metafile: the packages with code in the bundle, checked against the lock file, with their
# versions (for the banner) and their licence texts (for ../codemirror.LICENSE).
banner=$(node - <<'JS'
const fs = require("fs");
const meta = JSON.parse(fs.readFileSync("meta.json", "utf8"));
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
const [output] = Object.values(meta.outputs);
const names = new Set();
for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
  if (bytesInOutput === 0) continue;  // imported, but nothing of it is left in the bundle
  const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) names.add(m[1]);
  else if (input !== "entry.js") throw new Error(`unexpected bundle input ${input}`);
}
const pkgs = [...names].sort().map((name) => {
  const dir = `node_modules/${name}`;
  const pj = JSON.parse(fs.readFileSync(`${dir}/package.json`, "utf8"));
  const locked = lock[dir];
  if (!locked || locked.version !== pj.version) throw new Error(`${name}: not in lock file at ${pj.version}`);
  if (locked.dev) throw new Error(`${name}: a devDependency ended up in the bundle`);
  const lic = fs.readdirSync(dir).filter((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f)).sort();
  if (lic.length === 0) throw new Error(`${name}: no licence file`);
  const text = lic.map((f) => fs.readFileSync(`${dir}/${f}`, "utf8").replace(/\s+$/, "") + "\n").join("\n");
  return { name, version: pj.version, license: pj.license, integrity: locked.integrity, text };
});
const rule = "=".repeat(78);
let out = "Licences of the npm packages bundled in codemirror.min.js (built by codemirror/build.sh),\n" +
          "one section per package, as shipped in each package's tarball.\n";
for (const p of pkgs) {
  out += `\n${rule}\n${p.name}@${p.version} (${p.license})\n${p.integrity}\n${rule}\n\n${p.text}`;
}
fs.writeFileSync("../codemirror.LICENSE", out);
const list = pkgs.map((p) => `${p.name}@${p.version}`).join(", ");
process.stdout.write(`/*! CodeMirror 6 for the workflows console, window.CM. Bundles: ${list}. ` +
                     `MIT licences: codemirror.LICENSE. Rebuild: codemirror/build.sh */`);
JS
)

# Pass 2: the bundle itself, with the banner.
esbuild "${common[@]}" --banner:js="$banner" --outfile=../codemirror.min.js
rm -f node_modules/.pass1.js

echo "codemirror.min.js: $(wc -c < ../codemirror.min.js) bytes, $(gzip -9n < ../codemirror.min.js | wc -c) gzipped"
