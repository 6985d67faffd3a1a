#!/usr/bin/env bash
# Vendor @niivue/niivue (BSD-2-Clause) into static/vendor/niivue/<version>/.
#
#   bench/update_niivue.sh [VERSION]     (default: the pinned one below)
#
# (Kept out of static/ so that collectstatic does not publish it.)
#
# Needs npm and the npm registry (install time only; the app never fetches anything at run time).
# The tarball's sha1 is checked against the registry's published shasum. Only the UMD build is
# copied (one self-contained script that defines window.niivue; no workers, no WebAssembly on
# the NIfTI path). To update: run with the new version, set NIIVUE_VERSION in
# segmentation/volume_views.py to it, run the viewer browser tests
# (pytest tests/e2e/test_review_pages.py) and the bench (bench/volume_viewer.py), then delete
# the old folder.
set -euo pipefail
VERSION="${1:-0.69.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/static/vendor/niivue/$VERSION"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack "@niivue/niivue@$VERSION" >/dev/null
TGZ="niivue-niivue-$VERSION.tgz"
WANT="$(npm view "@niivue/niivue@$VERSION" dist.shasum)"
GOT="$(sha1sum "$TGZ" | cut -d' ' -f1)"
[ "$WANT" = "$GOT" ] || { echo "sha1 mismatch: registry $WANT, tarball $GOT" >&2; exit 1; }
tar xzf "$TGZ"
rm -rf "$DEST"; mkdir -p "$DEST"
cp package/dist/niivue.umd.js package/package.json package/README.md "$DEST/"
# The package declares BSD-2-Clause in package.json but ships no LICENSE file: add the text of
# the project's LICENSE (github.com/niivue/niivue, LICENSE).
cat > "$DEST/LICENSE" <<'LICENCE'
BSD 2-Clause License

Copyright (c) 2021, Niivue
All rights reserved.

Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice, this
   list of conditions and the following disclaimer.

2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
LICENCE
cat > "$DEST/VENDORED.md" <<MD
# @niivue/niivue $VERSION (vendored)

- Source: the npm package \`@niivue/niivue@$VERSION\` (\`npm pack\`), sha1 $GOT
  (the registry's dist.shasum), https://www.npmjs.com/package/@niivue/niivue,
  https://github.com/niivue/niivue
- Files: \`niivue.umd.js\` (the package's \`dist/niivue.umd.js\`, unmodified: defines
  \`window.niivue\`), its \`package.json\` and \`README.md\`.
- Licence: BSD-2-Clause (package.json "license"); the package ships no LICENSE file, so
  \`LICENSE\` here is the text of the project's LICENSE on GitHub.
- Made by \`bench/update_niivue.sh $VERSION\`; update by running it with another version (see
  the script's header and docs/web.md, "Volume viewer").
- Used by the volume viewer page (templates/segmentation/volume.html,
  static/gazecrowd/js/volume-viewer.js), under that page's Content-Security-Policy.
MD
chmod 644 "$DEST"/*
echo "vendored @niivue/niivue $VERSION into $DEST"
ls -la "$DEST"
