# The steps of make fresh, inside its container (see fresh.sh).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SMOKE=${SMOKE_TESTS:-tests/setup tests/worker/test_probe.py tests/worker/test_package.py tests/dags/test_dag_definition.py tests/dags/test_stage_contract.py tests/dags/test_trigger_form.py}
step() { printf '\nfresh: %s\n' "$*"; }
verdict() { printf '\nfresh: VERDICT %s\n' "$*"; }
trap 'status=$?; [ $status -eq 0 ] || verdict "FAIL (exit $status at line $LINENO)"' EXIT

if [ -n "${FRESH_APT_CACHE:-}" ]; then
  mkdir -p "$FRESH_APT_CACHE/partial"
  echo "Dir::Cache::Archives \"$FRESH_APT_CACHE\";" > /etc/apt/apt.conf.d/90fresh-cache
fi
step "what the README assumes: Debian $(cat /etc/debian_version), then Python 3.11, make and git"
apt-get update -qq && apt-get install -y -qq python3 make git >/dev/null
git config --global --add safe.directory '*'
python3 --version

step "as a user without root: make demo stops and names what to install"
useradd --create-home newcomer
su newcomer -c "git config --global --add safe.directory '*' && git clone -q /origin.git ~/video-pipeline \
  && cd ~/video-pipeline && make demo" > /tmp/newcomer.log 2>&1 && { cat /tmp/newcomer.log; exit 1; }
cat /tmp/newcomer.log
grep -q "^Missing system packages: python3-venv ffmpeg espeak-ng nodejs npm\. " /tmp/newcomer.log

step "as root: make demo"
mkdir -p /work && git clone -q /origin.git /work/video-pipeline && cd /work/video-pipeline
started=$(date +%s)
make demo 2>&1 | tee /tmp/demo.log
demo_s=$(( $(date +%s) - started ))
url=$(sed -n 's/^page *//p' /tmp/demo.log)
[ -n "$url" ]
.venv/bin/python - "$url" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=30) as page:
    assert page.status == 200 and b"<video" in page.read(), "the page has no video"
PY

step "smoke tests: make test PYTEST_ARGS='$SMOKE'"
make test PYTEST_ARGS="$SMOKE -q -p no:cacheprovider"

verdict "PASS: make demo published $url in $demo_s s (served by the container, gone with it); smoke tests passed"
