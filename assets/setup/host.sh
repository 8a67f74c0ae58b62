# Set-up of one benchmark host, run with `bash -s` over SSH. The orchestrator puts these
# assignments before it (xtask/src/testbed/host_setup.rs):
#   TOOLS            "command:package ..." the orchestrator runs on the host
#   INSTALL_MISSING  yes: install missing packages with apt-get; no: fail with exit 5
#   PORT_RANGES      "first:last ..." TCP ports to open in ufw when it is active
#   OPEN_FILES       open-files limit wanted for the validators
#   STATE_DIR        the host's state directory; SESSION_FILE is written in it
# Standard output: key=value lines (installed, ufw, open_files, clock); errors on standard
# error, with exit codes 3 (cannot install), 4 (apt-get failed), 5 (missing, installing
# disabled), 6 (ufw failed), 7 (state directory not writable).
set -u

missing=''
for tool in $TOOLS; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing="$missing ${tool#*:}"
done

if [ "$(id -u)" = 0 ]; then
  sudo=''
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo='sudo -n'
else
  sudo=none
fi

if [ -n "$missing" ]; then
  if [ "$INSTALL_MISSING" != yes ]; then
    echo "missing:$missing (installing is disabled)" >&2
    exit 5
  fi
  if [ "$sudo" = none ]; then
    echo "missing:$missing; cannot install them: not root and no password-less sudo" >&2
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  # $sudo and $missing are word lists: split on purpose.
  # shellcheck disable=SC2086
  $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq >&2 ||
    { echo "apt-get update failed (installing:$missing)" >&2; exit 4; }
  # shellcheck disable=SC2086
  $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >&2 ||
    { echo "apt-get install$missing failed" >&2; exit 4; }
  echo "installed=$missing"
fi

# ufw: open SSH and the benchmark ports when it is active (Vultr's images enable it).
ufw=no
# shellcheck disable=SC2086
if command -v ufw >/dev/null 2>&1 && [ "$sudo" != none ] &&
  $sudo ufw status 2>/dev/null | grep -q 'Status: active'; then
  for range in 22 $PORT_RANGES; do
    # shellcheck disable=SC2086
    $sudo ufw allow "$range/tcp" >/dev/null || { echo "ufw allow $range/tcp failed" >&2; exit 6; }
  done
  ufw=yes
fi
echo "ufw=$ufw"

# Open files: the wanted limit if the hard limit allows it (or may be raised), else the hard
# limit; written to the session file the validators' shell sources.
hard=$(ulimit -Hn)
if (ulimit -Hn "$OPEN_FILES" 2>/dev/null; ulimit -n "$OPEN_FILES") 2>/dev/null; then
  limit=$OPEN_FILES
elif [ "$hard" = unlimited ]; then
  limit=$OPEN_FILES
else
  limit=$hard
fi
mkdir -p "$STATE_DIR" || { echo "cannot create $STATE_DIR" >&2; exit 7; }
printf 'ulimit -Hn %s 2>/dev/null || true\nulimit -n %s\n' "$limit" "$limit" >"$STATE_DIR/$SESSION_FILE" ||
  { echo "cannot write $STATE_DIR/$SESSION_FILE" >&2; exit 7; }
# shellcheck disable=SC1090
echo "open_files=$(. "$STATE_DIR/$SESSION_FILE" && ulimit -n)"

# Clock synchronisation.
clock=unknown
if command -v timedatectl >/dev/null 2>&1 && v=$(timedatectl show -p NTPSynchronized --value 2>/dev/null); then
  case "$v" in
    yes) clock=yes ;;
    no) clock=no ;;
  esac
fi
if [ "$clock" = unknown ] && command -v chronyc >/dev/null 2>&1 && out=$(chronyc tracking 2>/dev/null); then
  if printf '%s\n' "$out" | grep -Eq '^Leap status *: Normal'; then clock=yes; else clock=no; fi
fi
echo "clock=$clock"
