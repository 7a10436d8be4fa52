#!/usr/bin/env bash
# Installs what cdmm needs on a fresh Debian 12 machine, then the npm packages and the libtorch addon.
#   libtorch-dev  the engine (libtorch 1.13, CPU) that the native addon links to
#   libopenblas0-openmp  an optimised BLAS for libtorch (Debian otherwise resolves libblas.so.3 to the
#                 reference BLAS, measured 16x slower on our matrix products); the OpenMP build obeys
#                 cdmm's thread setting
#   g++ make python3  node-gyp's toolchain
#   python3-torch  PyTorch, for the speed comparison and the engine's cross-check test
#   chromium       headless browser for the report's rendering test
# Skip the optional ones with CDMM_MINIMAL=1.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(libtorch-dev libopenblas0-openmp g++ make python3)
[ "${CDMM_MINIMAL:-0}" = 1 ] || pkgs+=(python3-torch chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci also runs our install script, which builds the addon (node-gyp, about a minute on 2 cores), and the
# prepare script, which compiles src/ to dist/ (what bin/cdmm.js runs; about 15 s).
npm ci --no-audit --no-fund
test -f build/Release/cdmm_native.node || npm run build:native
test -f dist/cli/main.js || npm run build
echo "setup: done (libtorch $(dpkg-query -W -f='${Version}' libtorch-dev))" >&2
