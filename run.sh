#!/usr/bin/env bash
# One entry point for a fresh machine.
#   ./run.sh                 the default experiment on this machine (hosts/local.yaml)
#   ./run.sh ARGS…           `harness run ARGS…`  (e.g. --hosts hosts/my.yaml --experiment …)
#   ./run.sh report RUN_DIR  any other harness command (report, check, …)
#   ./run.sh test [PYTEST…]  install the test dependencies and run the whole test suite
# The first call creates .venv and installs what is needed; later calls install nothing
# unless setup.py changed.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=${HARNESS_VENV:-.venv}
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

log() { printf 'run.sh: %s\n' "$*" >&2; }

ensure_python_env() {  # $1 = extras, e.g. "train" or "train,dev"
    local extras=$1 stamp key
    [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
    key=$(cat setup.py harness/requirements.py | sha256sum | cut -c1-16)
    stamp="$VENV/.installed-${extras//,/-}-$key"
    if [ ! -f "$stamp" ]; then
        log "installing harness[$extras] into $VENV (first run only)"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e ".[$extras]"
        touch "$stamp"
    fi
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
    test)
        shift
        ensure_system_packages
        ensure_python_env "train,dev"
        exec "$VENV/bin/python" -m pytest -q tests "$@"
        ;;
    report|check|compare|hosts|sandbox|--help|-h|--version)
        ensure_python_env "train"
        exec "$VENV/bin/harness" "$@"
        ;;
    *)
        ensure_python_env "train"
        exec "$VENV/bin/harness" run "$@"
        ;;
esac
