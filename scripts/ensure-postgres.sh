#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 for the store and end-to-end
# tests. Starts the machine's cluster when it is installed but stopped; installs it from
# Debian's packages when it is missing. Prints what it did.
set -euo pipefail

ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }

if command -v pg_isready >/dev/null 2>&1 && ready; then
  echo "postgres: running on 127.0.0.1:5432"
  exit 0
fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "postgres: not installed; installing from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q postgresql >/dev/null
  ver=$(ls /etc/postgresql | head -n1)
  conf=/etc/postgresql/$ver/main
  sed -i "s/^#\?listen_addresses.*/listen_addresses = '127.0.0.1'/" "$conf/postgresql.conf"
  cat > "$conf/pg_hba.conf" <<'HBA'
local   all all                trust
host    all all 127.0.0.1/32   trust
host    all all ::1/128        trust
HBA
fi

ver=$(ls /etc/postgresql | head -n1)
echo "postgres: starting cluster $ver/main"
pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
for _ in $(seq 1 30); do
  if ready; then
    psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null
    echo "postgres: ready"
    exit 0
  fi
  sleep 1
done
echo "postgres: did not become ready on 127.0.0.1:5432" >&2
exit 1
