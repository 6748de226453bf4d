#!/usr/bin/env bash
# Holdfast set-up: installs what `make run` / `make test` need, and nothing
# that is already there. Idempotent; a few seconds when all is in place.
#
#   scripts/setup.sh run    Debian packages for the server's parts (tmux,
#                           bubblewrap, restic, Xvnc, openbox, xterm, noVNC)
#                           and the pinned xterm.js 6 bundle in vendor/xterm/.
#   scripts/setup.sh test   all of `run`, plus chromium + chromedriver,
#                           PostgreSQL 15, wrk, hyperfine, and the Python test
#                           tools of e2e/requirements.txt in .venv/.
#
# Must run as root (it calls apt-get) whenever a Debian package is missing.
# Written for Debian 12 (bookworm).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$SCRIPT_DIR")

# --- pinned inputs -----------------------------------------------------------

# Debian packages (every name checked with `apt-cache policy` on bookworm).
# xfonts-base: Xvnc and xterm need the core "fixed" font; it is only a
# Recommends of tigervnc-standalone-server, which --no-install-recommends skips.
# zlib1g-dev: the server links zlib (gzip of folder downloads as .tar.gz).
RUN_PACKAGES=(
  ca-certificates curl python3 zlib1g-dev
  tmux bubblewrap restic slirp4netns iproute2 e2fsprogs util-linux
  tigervnc-standalone-server xfonts-base openbox xterm
  novnc
)
TEST_PACKAGES=(
  python3-venv
  chromium chromium-driver fonts-dejavu-core
  postgresql-15
  wrk hyperfine
  util-linux iproute2 procps openssl
  xclip x11-utils
)

# xterm.js 6 browser bundle: the tinyterminal 0.1.0 wheel ships @xterm/xterm
# 6.0.0 and @xterm/addon-fit 0.11.0 (UMD builds: window.Terminal and
# window.FitAddon.FitAddon) under tinyterminal/static/vendor/.
XTERM_WHEEL_NAME=tinyterminal-0.1.0-py3-none-any.whl
XTERM_WHEEL_REQ=tinyterminal==0.1.0
XTERM_WHEEL_SHA256=1ac2eae5a7f727fa222599b3ef1da97d0419df1ab32763ad6dbcdb7744b18e54
XTERM_WHEEL_URL=https://files.pythonhosted.org/packages/a3/b2/05536a5413d5bbaaa51facdada6abd9111ad2b1b54f04a45d0d474a2938f/tinyterminal-0.1.0-py3-none-any.whl
# "destination  sha256  member of the wheel" (the files we serve)
XTERM_FILES="\
xterm.js      14903579ff54664cd72f8e8699e6961a6272c21863ec1c3b118cdc8af5d4a972 tinyterminal/static/vendor/xterm.js
xterm.css     854a7c0fb70e8b1a083c16797ab827299fb18744f5ad34f227b48337e33293c6 tinyterminal/static/vendor/xterm.css
addon-fit.js  ba3ea256ce0620a0992a197d6c9baea64823fc93d8da07a9e366ca9943c18527 tinyterminal/static/vendor/addon-fit.js
VERSIONS.txt  d5bb15e11920b5e8a0fe057ceedb6becd5660fe8a3df821d420944c7c1e06a15 tinyterminal/static/vendor/VERSIONS.txt
LICENSE.tinyterminal e958892abc1dd5d991fca6d528e695d335f25773d373d2e0be5f4a9507d8f8d5 tinyterminal-0.1.0.dist-info/licenses/LICENSE"
XTERM_DIR=$ROOT/vendor/xterm

NOVNC_DIR=/usr/share/novnc
PG_BIN=/usr/lib/postgresql/15/bin
VENV=$ROOT/.venv
REQUIREMENTS=$ROOT/e2e/requirements.txt
# Debian's interpreter (not a pyenv shim or similar that happens to be first
# on PATH), so the venv is the same on every machine.
SYS_PYTHON=/usr/bin/python3

# --- helpers -----------------------------------------------------------------

log() { echo "setup: $*"; }
die() {
  echo "setup: ERROR: $1" >&2
  shift
  local line
  for line in "$@"; do echo "setup:   $line" >&2; done
  exit 1
}
usage() {
  echo "usage: scripts/setup.sh run|test" >&2
  exit 2
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# --- Debian packages -----------------------------------------------------------

missing_packages() {
  # Prints the names (of "$@") whose dpkg status is not "install ok installed".
  # One dpkg-query for all of them; it prints nothing for unknown names.
  local -A ok=()
  local pkg status
  while IFS=$'\t' read -r pkg status; do
    [[ $status == "install ok installed" ]] && ok[${pkg%%:*}]=1
  done < <(dpkg-query -W -f='${Package}\t${Status}\n' "$@" 2>/dev/null || true)
  for pkg in "$@"; do
    [[ -n ${ok[$pkg]:-} ]] || printf '%s\n' "$pkg"
  done
}

ensure_packages() {
  local -a want=("$@") missing=()
  mapfile -t missing < <(missing_packages "${want[@]}")
  if ((${#missing[@]} == 0)); then
    log "Debian packages: all ${#want[@]} present, nothing missing"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  if ((EUID != 0)); then
    die "missing Debian packages: ${missing[*]}" \
      "installing them needs root: run 'sudo scripts/setup.sh $MODE' (or install them with apt-get)."
  fi
  export DEBIAN_FRONTEND=noninteractive
  local -a apt_opts=(-o Acquire::Retries=3 -o DPkg::Lock::Timeout=300)
  if ! apt-get "${apt_opts[@]}" update -q >"$WORK/apt-update.log" 2>&1; then
    tail -n 15 "$WORK/apt-update.log" >&2
    die "'apt-get update' failed (see the lines above)." \
      "Is the Debian mirror reachable? Check the network and /etc/apt/sources.list{,.d/}," \
      "then re-run 'scripts/setup.sh $MODE'."
  fi
  if ! apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" \
      >"$WORK/apt-install.log" 2>&1; then
    tail -n 25 "$WORK/apt-install.log" >&2
    die "'apt-get install ${missing[*]}' failed (see the lines above)." \
      "If dpkg was interrupted earlier, run 'dpkg --configure -a' and 'apt-get -f install'," \
      "if the mirror is unreachable fix the network / apt sources; then re-run 'scripts/setup.sh $MODE'."
  fi
  mapfile -t missing < <(missing_packages "${want[@]}")
  if ((${#missing[@]} > 0)); then
    die "still not installed after apt-get: ${missing[*]}" \
      "Check 'apt-cache policy ${missing[*]}' (is this Debian 12 / bookworm with 'main' enabled?)."
  fi
  log "Debian packages: installed ${#want[@]} checked"
}

check_commands() {
  local cmd
  local -a absent=()
  for cmd in "$@"; do
    if [[ $cmd == /* ]]; then
      [[ -x $cmd ]] || absent+=("$cmd")
    else
      command -v "$cmd" >/dev/null 2>&1 || absent+=("$cmd")
    fi
  done
  if ((${#absent[@]} > 0)); then
    die "installed packages, but these programs are not there: ${absent[*]}" \
      "Reinstall the package that ships each (dpkg -S NAME), e.g. 'apt-get install --reinstall PKG'."
  fi
}

# --- xterm.js bundle ---------------------------------------------------------------

xterm_bundle_ok() {
  [[ -f $XTERM_DIR/.stamp && $(<"$XTERM_DIR/.stamp") == "$XTERM_WHEEL_SHA256" ]] || return 1
  local dest sum
  while read -r dest sum _; do
    [[ -f $XTERM_DIR/$dest && $(sha256_of "$XTERM_DIR/$dest") == "$sum" ]] || return 1
  done <<<"$XTERM_FILES"
}

fetch_xterm_wheel() {
  # $1: directory to download into. Prefer pip (respects the machine's pip
  # configuration, e.g. an index mirror); fall back to curl when there is no
  # pip (a bare Debian python3 has none).
  local dir=$1 py
  for py in "$VENV/bin/python" "$SYS_PYTHON" python3; do
    if "$py" -m pip --version >/dev/null 2>&1; then
      if "$py" -m pip download -q --no-deps --only-binary=:all: --no-cache-dir \
          "$XTERM_WHEEL_REQ" -d "$dir" >"$WORK/pip-download.log" 2>&1; then
        [[ -f $dir/$XTERM_WHEEL_NAME ]] && return 0
      fi
      break
    fi
  done
  rm -f "$dir/$XTERM_WHEEL_NAME"
  curl -fsSL --retry 3 --connect-timeout 20 -o "$dir/$XTERM_WHEEL_NAME" "$XTERM_WHEEL_URL" \
    >"$WORK/curl.log" 2>&1
}

ensure_xterm_bundle() {
  if xterm_bundle_ok; then
    log "xterm.js bundle: present in vendor/xterm/ (tinyterminal 0.1.0, sha256 ${XTERM_WHEEL_SHA256:0:12}…)"
    return
  fi
  log "xterm.js bundle: fetching $XTERM_WHEEL_REQ and unpacking into vendor/xterm/"
  local dl=$WORK/wheel
  mkdir -p "$dl"
  if ! fetch_xterm_wheel "$dl"; then
    cat "$WORK/pip-download.log" "$WORK/curl.log" 2>/dev/null | tail -n 10 >&2
    die "could not download $XTERM_WHEEL_NAME from PyPI (see the lines above)." \
      "Is PyPI reachable (https://pypi.org/simple/tinyterminal/)? Fix the network or pip's index settings, then re-run."
  fi
  local got
  got=$(sha256_of "$dl/$XTERM_WHEEL_NAME")
  if [[ $got != "$XTERM_WHEEL_SHA256" ]]; then
    die "$XTERM_WHEEL_NAME has sha256 $got, expected $XTERM_WHEEL_SHA256." \
      "The download is corrupt or not the pinned wheel; do not use it. Re-run later, or check the index/mirror."
  fi

  # Unpack into a temp dir beside the target, check every file, then swap.
  mkdir -p "$ROOT/vendor"
  local tmp
  tmp=$(mktemp -d "$ROOT/vendor/.xterm.tmp.XXXXXX")
  TMP_CLEAN+=("$tmp")
  XTERM_FILES="$XTERM_FILES" "$SYS_PYTHON" - "$dl/$XTERM_WHEEL_NAME" "$tmp" <<'PY'
import hashlib, os, re, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for line in os.environ["XTERM_FILES"].splitlines():
        dest, sha, member = line.split()
        data = z.read(member)
        if hashlib.sha256(data).hexdigest() != sha:
            sys.exit(f"setup: ERROR: {member} in the wheel does not have the pinned sha256")
        with open(os.path.join(out, dest), "wb") as f:
            f.write(data)
# xterm.js's own licence is the MIT header of xterm.css: keep it as a file too.
css = open(os.path.join(out, "xterm.css"), encoding="utf-8").read()
m = re.match(r"\s*/\*\*?(.*?)\*/", css, re.S)
text = "\n".join(re.sub(r"^\s*\* ?", "", l) for l in m.group(1).strip("\n").splitlines())
with open(os.path.join(out, "LICENSE.xterm"), "w", encoding="utf-8") as f:
    f.write("@xterm/xterm and @xterm/addon-fit (https://github.com/xtermjs/xterm.js)\n\n" + text.strip() + "\n")
PY
  chmod 755 "$tmp"
  printf '%s\n' "$XTERM_WHEEL_SHA256" >"$tmp/.stamp"
  if [[ -e $XTERM_DIR ]]; then
    local old=$ROOT/vendor/.xterm.old.$$
    mv "$XTERM_DIR" "$old"
    TMP_CLEAN+=("$old")
  fi
  mv "$tmp" "$XTERM_DIR"
  xterm_bundle_ok || die "vendor/xterm/ failed its check right after unpacking (disk full?)."
  log "xterm.js bundle: unpacked xterm.js, xterm.css, addon-fit.js into vendor/xterm/"
}

# --- noVNC ---------------------------------------------------------------------------

check_novnc() {
  local f
  for f in core/rfb.js app/ui.js vnc.html vnc_lite.html; do
    [[ -e $NOVNC_DIR/$f ]] || die "noVNC file $NOVNC_DIR/$f is missing." \
      "Reinstall it: 'apt-get install --reinstall novnc'."
  done
  log "noVNC: $NOVNC_DIR (core/rfb.js, app/, vnc.html)"
}

# --- Python venv for the tests ------------------------------------------------------

ensure_venv() {
  [[ -f $REQUIREMENTS ]] || die "$REQUIREMENTS is missing." "Restore it from git ('git checkout -- e2e/requirements.txt')."
  local want stamp=$VENV/.requirements.sha256
  want=$(sha256_of "$REQUIREMENTS")
  if ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' >/dev/null 2>&1; then
    # Absent, broken (e.g. its interpreter is gone), or not Python 3.11.
    log "venv: creating .venv with $SYS_PYTHON -m venv"
    rm -rf "$VENV"
    if ! "$SYS_PYTHON" -m venv "$VENV" >"$WORK/venv.log" 2>&1; then
      tail -n 10 "$WORK/venv.log" >&2
      rm -rf "$VENV"
      die "'$SYS_PYTHON -m venv $VENV' failed (see above)." "Install python3-venv ('apt-get install python3-venv') and re-run."
    fi
  elif [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    log "venv: .venv up to date with e2e/requirements.txt"
    return
  fi
  # --no-compile: byte-compiling botocore, cfn-lint, sympy… at install time
  # costs ~30 s; Python compiles what the tests really import on first use.
  log "venv: installing e2e/requirements.txt into .venv"
  rm -f "$stamp"
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-input --no-compile \
      -r "$REQUIREMENTS" >"$WORK/pip-install.log" 2>&1; then
    tail -n 20 "$WORK/pip-install.log" >&2
    die "'pip install -r e2e/requirements.txt' failed (see above)." \
      "Is PyPI reachable? Is every pinned version still served? Fix, then re-run 'scripts/setup.sh test'."
  fi
  printf '%s\n' "$want" >"$stamp"
  log "venv: installed e2e/requirements.txt"
}

# --- main ------------------------------------------------------------------------------

[[ $# -eq 1 ]] || usage
MODE=$1
case $MODE in
  run | test) ;;
  *) usage ;;
esac

START_NS=$(date +%s%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/holdfast-setup.XXXXXX")
TMP_CLEAN=("$WORK")
cleanup() { rm -rf "${TMP_CLEAN[@]}"; }
trap cleanup EXIT

# One set-up at a time (e.g. `make run` and `make test` started together).
mkdir -p "$ROOT/.tmp"
exec 9>"$ROOT/.tmp/setup.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

log "mode $MODE, repo $ROOT"
if [[ -r /etc/os-release ]] && ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  log "warning: this is not Debian 12 (bookworm); package names may differ"
fi

packages=("${RUN_PACKAGES[@]}")
[[ $MODE == test ]] && packages+=("${TEST_PACKAGES[@]}")
ensure_packages "${packages[@]}"

check_commands tmux bwrap restic slirp4netns ip nsenter mkfs.ext4 losetup Xvnc openbox xterm "$SYS_PYTHON"
if [[ $MODE == test ]]; then
  check_commands chromium chromedriver wrk hyperfine runuser ss psql \
    "$PG_BIN/initdb" "$PG_BIN/pg_ctl" "$PG_BIN/postgres" "$PG_BIN/createdb"
fi
check_novnc
ensure_xterm_bundle
[[ $MODE == test ]] && ensure_venv

END_NS=$(date +%s%N)
log "ok ($(((END_NS - START_NS) / 1000000)) ms)"

# --- Notes for tests ------------------------------------------------------------------
# Selenium with Debian's chromium + chromedriver, as root, headless (tested with
# selenium 4.51.0, chromium 156): --no-sandbox is needed as root.
#
#   from selenium import webdriver
#   from selenium.webdriver.chrome.service import Service
#   opts = webdriver.ChromeOptions()
#   opts.binary_location = "/usr/bin/chromium"
#   opts.add_argument("--headless=new"); opts.add_argument("--no-sandbox")
#   driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
#
# Always give executable_path: without it Selenium Manager runs and tries to
# reach the network (browser/driver downloads and usage stats). SE_OFFLINE=true
# in the environment is a second guard.
