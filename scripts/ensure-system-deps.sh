#!/usr/bin/env bash
# Install the Debian packages the test suite's real services and browser need, when they are missing:
#   default-jre-headless       (Java 17 for Apache Spark; the engine tests run PySpark in local mode)
#   postgresql                 (server binaries under /usr/lib/postgresql/<major>/bin; the tests start it themselves)
#   chromium, chromium-driver  (/usr/bin/chromium and /usr/bin/chromedriver; the browser tests drive Debian's
#                               Chromium with Playwright and never download a browser of their own)
#   libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz-subset0, fonts-dejavu-core
#                              (WeasyPrint's run-time libraries and a font, for `spinetrack report --pdf`)
# Idempotent and quiet when everything is already there.
set -euo pipefail

missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
if ! command -v java >/dev/null 2>&1; then
  missing+=(default-jre-headless)   # Java 17 for Apache Spark (PySpark, local mode in the tests)
fi
if [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium chromium-driver)
elif [ ! -x /usr/bin/chromedriver ]; then
  missing+=(chromium-driver)
fi

for pkg in libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "ensure-system-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
echo "ensure-system-deps: installing ${missing[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The Debian package starts a cluster on port 5432; the tests start their own, so stop it.
if [[ " ${missing[*]} " == *" postgresql "* ]] && command -v pg_ctlcluster >/dev/null 2>&1; then
  $SUDO service postgresql stop >/dev/null 2>&1 || true
fi
