#!/usr/bin/env bash
# Vendor @mediapipe/face_mesh (Apache-2.0) into static/vendor/mediapipe-face-mesh/<version>/.
#
#   bench/update_mediapipe_face_mesh.sh [VERSION]     (default: the pinned one below)
#
# (Kept out of static/ so that collectstatic does not publish it.)
#
# Needs npm and the npm registry (install time only; the app never fetches anything at run time).
# The tarball's sha1 is checked against the registry's published shasum. To update: run with the
# new version, set FACE_MESH_VERSION in annotation/views.py to it, run the webcam browser tests
# (pytest tests/e2e -k webcam) and the bench (bench/webcam_landmarks.py; its page
# bench/webcam_bench.html names the version too), then delete the old folder.
set -euo pipefail
VERSION="${1:-0.4.1633559619}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/static/vendor/mediapipe-face-mesh/$VERSION"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
npm pack "@mediapipe/face_mesh@$VERSION" >/dev/null
TGZ="mediapipe-face_mesh-$VERSION.tgz"
WANT="$(npm view "@mediapipe/face_mesh@$VERSION" dist.shasum)"
GOT="$(sha1sum "$TGZ" | cut -d' ' -f1)"
[ "$WANT" = "$GOT" ] || { echo "sha1 mismatch: registry $WANT, tarball $GOT" >&2; exit 1; }
tar xzf "$TGZ"
rm -rf "$DEST"; mkdir -p "$DEST"
# Everything the solution loads at run time, plus its typings, package.json and README.
cp package/*.js package/*.wasm package/*.data package/*.binarypb package/package.json \
   package/README.md package/index.d.ts "$DEST/"
# The package declares Apache-2.0 in package.json but ships no LICENSE file: add the licence text.
if [ -f /usr/share/common-licenses/Apache-2.0 ]; then
  cp /usr/share/common-licenses/Apache-2.0 "$DEST/LICENSE"
else
  echo "Apache-2.0 text not found at /usr/share/common-licenses: add $DEST/LICENSE by hand" >&2
fi
cat > "$DEST/VENDORED.md" <<MD
# @mediapipe/face_mesh $VERSION (vendored)

- Source: the npm package \`@mediapipe/face_mesh@$VERSION\` (\`npm pack\`), sha1 $GOT
  (the registry's dist.shasum), https://www.npmjs.com/package/@mediapipe/face_mesh
- Licence: Apache-2.0 (package.json "license"); the package ships no LICENSE file, so
  \`LICENSE\` here is the Apache License 2.0 text.
- Made by \`bench/update_mediapipe_face_mesh.sh $VERSION\`; update by running it with another
  version (see the script's header and docs/web.md, "Webcam gaze").
- Unmodified files. The page sets \`locateFile\` so that every file is loaded from this folder.
MD
chmod 644 "$DEST"/*
echo "vendored @mediapipe/face_mesh $VERSION into $DEST"
ls -la "$DEST"
