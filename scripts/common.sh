# Shared by scripts/demo, scripts/test and scripts/bench: installs what is missing (as root) and
# sets up ccache. Source it; do not run it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Debian 12 packages every script needs; callers append their own to PACKAGES.
BASE_PACKAGES="g++ clang libclang-rt-14-dev cmake ninja-build ccache libboost-dev librange-v3-dev"
# The optional parts' dependencies and the real servers their tests start (loopback only).
OPTIONAL_PACKAGES="pkg-config nats-server libnats-dev nlohmann-json3-dev libsqlite3-dev libssl-dev openssl prometheus"

ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "== installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # Wait for the dpkg lock (another apt run, unattended upgrades) instead of failing on it.
        apt-get -o DPkg::Lock::Timeout=900 update -qq
        apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "error: missing Debian packages: ${missing[*]}" >&2
        echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

# ccache keeps re-runs fast; its directory survives between runs of the same machine.
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/bulwark-ccache}"
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
# Paths relative to the checkout, so that another clone of the same tree hits the same cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-true}"
JOBS="${JOBS:-$(nproc)}"

# configure + build one preset (configure only when the build dir is new).
build_preset() {
    local preset=$1
    if [ ! -f "build/$preset/build.ninja" ]; then
        cmake --preset "$preset" >/dev/null
    fi
    cmake --build --preset "$preset" -j "$JOBS"
}
