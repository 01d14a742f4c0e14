#!/usr/bin/env bash
# Debian packages geova needs on a fresh machine, and a running PostgreSQL with PostGIS available.
#   libsqlite3-mod-spatialite  SpatiaLite, for the embedded default store
#   postgresql-15-postgis-3    PostGIS, for the server store (the test suite runs on both)
#   chromium                   the real browser the browser tests drive (through Playwright)
#   libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0  Pango and HarfBuzz, for WeasyPrint (PDF reports)
#   gdal-bin                   ogr2ogr, the anchor bench/import_bench.py times the first import beside
# Idempotent: installs only what is missing, runs `apt-get update` at most once.
set -euo pipefail

PACKAGES=(libsqlite3-mod-spatialite postgresql-15-postgis-3 chromium libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 gdal-bin)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi

# PostgreSQL: start the local cluster when it is installed but not running.
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] && pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
fi
