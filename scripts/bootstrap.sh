# Sourced by ./c2al and ./run-tests: makes sure a Python 3.10 virtual environment
# with the locked stack exists, then exports VENV. Reinstalls when setup.py or
# constraints.txt change. Override the location with C2AL_VENV=/path.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${C2AL_VENV:-$ROOT/.venv}"
export VENV

find_python310() {
  if [ -n "${C2AL_PYTHON:-}" ]; then echo "$C2AL_PYTHON"; return; fi
  for cand in python3.10 "$(pyenv root 2>/dev/null)/versions/3.10"*/bin/python3.10 \
              /usr/local/bin/python3.10 /usr/bin/python3.10; do
    if [ -n "$cand" ] && "$cand" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      command -v "$cand" 2>/dev/null || echo "$cand"; return
    fi
  done
  echo "c2al: error: Python 3.10 not found (TFX 1.16 needs >=3.9,<3.11); install it or set C2AL_PYTHON" >&2
  return 1
}

stamp_of() { cat "$ROOT/setup.py" "$ROOT/constraints.txt" | sha256sum | cut -c1-16; }

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(find_python310)"
  echo "[c2al] creating $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.c2al-stamp" 2>/dev/null)" != "$(stamp_of)" ]; then
  echo "[c2al] installing the pinned stack into $VENV (first run takes ~5 minutes)" >&2
  # pip's notes on configured package locations that do not exist on this machine are dropped
  quiet() { grep -v "is ignored: it is neither a file nor a directory" >&2 || true; }
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==24.2 >&2 2> >(quiet)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$ROOT/constraints.txt" \
      -e "$ROOT[test,kubeflow]" >&2 2> >(quiet)
  stamp_of > "$VENV/.c2al-stamp"
fi
export TF_USE_LEGACY_KERAS=1
