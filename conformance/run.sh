#!/usr/bin/env bash
# Conformance suite: do patches retargeted by msp-retarget install on every
# instance, and on nothing else, according to Wine's msi.dll?
#
# Usage: conformance/run.sh [CASE-PATTERN...]
#   CASE-PATTERN: shell glob(s) over case names (default: all), e.g. 'A-*'.
# Environment:
#   MSP_CORPUS_DIR   corpus folder (default <repo>/../shared/corpus)
#   MSP_RETARGET     msp-retarget binary (default $CARGO_TARGET_DIR or <repo>/target, debug/msp-retarget,
#                    built with cargo when unset)
#   CONFORMANCE_WORK work folder (default: a fresh mktemp -d; removed when all pass)
#   CONFORMANCE_KEEP=1 keep the work folder even when all cases pass
#
# Last line of output: "N passed, N failed".  Exit status: 0 when every case
# passed, 1 when a case failed, 2 when setup failed (setup failures are
# reported as failures too; nothing is ever skipped silently).
# See docs/conformance.md for what each case asserts.

set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
CORPUS="${MSP_CORPUS_DIR:-$REPO/../shared/corpus}"
WIX="$CORPUS/wix3"
START_TIME=$SECONDS

I1='{11111111-1111-4111-8111-111111111111}'
I2='{22222222-2222-4222-8222-222222222222}'

PASSED=0
FAILED=0
FAILED_NAMES=()

log() { printf '%s\n' "$*"; }

setup_fail() {
  log "SETUP FAILED: $*"
  log "$PASSED passed, $((FAILED + 1)) failed"
  exit 2
}

# ---------------------------------------------------------------- setup ----

need_packages() {
  local missing=()
  command -v wine >/dev/null || missing+=(wine)
  command -v wineserver >/dev/null || missing+=(wine)
  [ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || missing+=(wine64)
  command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64-win32)
  command -v msibuild >/dev/null || missing+=(msitools)
  command -v msiinfo >/dev/null || missing+=(msitools)
  command -v jq >/dev/null || missing+=(jq)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing packages (${missing[*]})"
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    setup_fail "missing ${missing[*]}; install: wine wine64 gcc-mingw-w64-x86-64-win32 msitools jq"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || setup_fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends \
    wine wine64 gcc-mingw-w64-x86-64-win32 msitools jq >/dev/null ||
    setup_fail "apt-get install failed"
  command -v wine >/dev/null && command -v msibuild >/dev/null && command -v jq >/dev/null &&
    command -v x86_64-w64-mingw32-gcc >/dev/null || setup_fail "packages still missing after install"
}

[ -d "$WIX" ] || setup_fail "corpus not found: $WIX (set MSP_CORPUS_DIR)"
for f in PatchAv101.msp PatchBv101.msp gdr1.msp rtmldr.msp prodAv100.msi prodBv100.msi rtm-product.msi; do
  [ -r "$WIX/$f" ] || setup_fail "corpus file missing: $WIX/$f"
done
CORPUS="$(cd "$CORPUS" && pwd)"
WIX="$CORPUS/wix3"

need_packages

WORK="${CONFORMANCE_WORK:-$(mktemp -d /tmp/msp-conformance.XXXXXX)}"
mkdir -p "$WORK" || setup_fail "cannot create $WORK"
WORK="$(cd "$WORK" && pwd)"
case "$WORK" in *' '*) setup_fail "work folder path must not contain spaces: $WORK" ;; esac

# On interrupt: stop the wineserver of the case being run (only that one).
CDIR=""
on_exit() {
  if [ -n "$CDIR" ] && [ -d "$CDIR/prefix" ]; then
    WINEPREFIX="$CDIR/prefix" wineserver -k 2>/dev/null
    rm -rf "$CDIR/prefix"
  fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

export DISPLAY=
unset WAYLAND_DISPLAY
export WINEDLLOVERRIDES="mscoree,mshtml="
export WINEDEBUG=-all

log "wine: $(wine --version 2>/dev/null)  work: $WORK"

HARNESS="$WORK/harness.exe"
x86_64-w64-mingw32-gcc -municode -O2 -Wall -o "$HARNESS" "$HERE/harness.c" -lmsi -lole32 ||
  setup_fail "harness build failed"

PRISTINE="$WORK/pristine"
if [ ! -f "$PRISTINE/system.reg" ]; then
  rm -rf "$PRISTINE"
  t0=$SECONDS
  WINEPREFIX="$PRISTINE" wineboot -i >"$WORK/wineboot.log" 2>&1
  WINEPREFIX="$PRISTINE" wineserver -w
  [ -f "$PRISTINE/system.reg" ] || setup_fail "wineboot did not create a prefix (see $WORK/wineboot.log)"
  log "pristine prefix created in $((SECONDS - t0)) s"
fi

# The tool: built here when the caller did not name one.
TOOL_OK=1
TOOL_ERR=""
if [ -n "${MSP_RETARGET:-}" ]; then
  TOOL="$MSP_RETARGET"
else
  # cargo builds into CARGO_TARGET_DIR when set (relative to the repository,
  # where the build below runs).
  TARGET_DIR="${CARGO_TARGET_DIR:-target}"
  case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
  TOOL="$TARGET_DIR/debug/msp-retarget"
  if command -v cargo >/dev/null; then
    (cd "$REPO" && cargo build --locked --quiet --bin msp-retarget) >"$WORK/cargo-build.log" 2>&1 ||
      { TOOL_OK=0; TOOL_ERR="cargo build failed (see $WORK/cargo-build.log)"; }
  fi
fi
case "$TOOL" in /*) ;; */*) TOOL="$PWD/$TOOL" ;; *) TOOL="$(command -v "$TOOL" || echo "$TOOL")" ;; esac
if [ "$TOOL_OK" = 1 ] && [ ! -x "$TOOL" ]; then
  TOOL_OK=0
  TOOL_ERR="msp-retarget binary not found: $TOOL (set MSP_RETARGET)"
fi
[ "$TOOL_OK" = 1 ] || log "WARNING: $TOOL_ERR; every case that needs a retargeted patch will fail"

# ------------------------------------------------------------- families ----
# name|patch|package|base product code|version before|version after|unrelated package|
#   expected accepted transforms on the base (Wine's verdict)|mode
# mode "copies": the tool copies the pairs; "template": the tool only extends
# Template (the pairs do not validate the product code per the high word).
FAMILIES=(
  "A|PatchAv101.msp|prodAv100.msi|{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}|1.0.0.0|1.0.1.0|prodBv100.msi|rtmA.1 #rtmA.1|copies"
  "B|PatchBv101.msp|prodBv100.msi|{398B8855-E3B8-4559-9C2B-3ED457C5A889}|1.0.0.0|1.0.1.0|prodAv100.msi|rtmB.1 #rtmB.1|copies"
  # Wine also accepts rtmldr.1 (made for 1.0.1.0) on the 1.0.0.0 RTM product: it
  # compares only the major version (low-word flags); Windows would take rtm.2 only.
  "gdr1|gdr1.msp|rtm-product.msi|{FB94421B-7FA3-4495-A9D7-212099C19147}|1.0.0.0|1.0.0.0|prodAv100.msi|rtmldr.1 #rtmldr.1 rtm.2 #rtm.2|copies"
  "rtmldr|rtmldr.msp|rtm-product.msi|{FB94421B-7FA3-4495-A9D7-212099C19147}|1.0.0.0|1.0.1.0|prodAv100.msi|rtm.1 #rtm.1|template"
)

load_family() {
  IFS='|' read -r F_NAME F_PATCH F_PKG F_BASE F_FROM F_TO F_UNREL F_ACCEPT F_MODE <<<"$1"
  F_PATCH="$WIX/$F_PATCH"
  F_PKG="$WIX/$F_PKG"
  F_UNREL="$WIX/$F_UNREL"
  F_OUT="$WORK/out/$F_NAME.msp"
}

# -------------------------------------------------------------- helpers ----

CASE=""       # current case name (its folder is $CDIR)
PROBLEMS=()   # failed expectations of the current case
STEP=0

fail() { PROBLEMS+=("$*"); }

# key=value lookup in one line
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1; }

upper() { tr '[:lower:]' '[:upper:]' <<<"$1"; }

summary_field() { # FILE FIELD-LABEL  (msiinfo suminfo)
  msiinfo suminfo "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n1
}

# entries of LastSavedBy without the leading colon, one per line
lsb_entries() { summary_field "$1" 'Last author' | tr ';' '\n' | sed -n 's/^://p'; }

# run the harness in the current case's prefix; output in $CDIR/NN-<op>.out,
# msi trace in .trace when the first argument is "trace"; sets WR to the path
# without extension (not run in a subshell, so that fail() and STEP persist)
wine_run() {
  local trace=0
  if [ "$1" = trace ]; then trace=1; shift; fi
  STEP=$((STEP + 1))
  local base
  base="$CDIR/$(printf '%02d' $STEP)-$1"
  if [ $trace = 1 ]; then
    WINEPREFIX="$CDIR/prefix" WINEDEBUG=trace+msi wine "$HARNESS" "$@" >"$base.out" 2>"$base.trace"
  else
    WINEPREFIX="$CDIR/prefix" wine "$HARNESS" "$@" >"$base.out" 2>"$base.err"
  fi
  local rc=$?
  sed -i 's/\r$//' "$base.out"   # Wine's console writes CRLF
  [ $rc = 0 ] || fail "harness $* exited $rc"
  WR="$base"
}

# Transforms accepted per product in a trace: lines "PRODUCT NAME".
# A transform is named by apply_substorage_transform and accepted when the next
# check_transform_applicable verdict is "applicable transform"; the product is
# the one named by the last MsiConfigureProductExW call.
accepted_from_trace() {
  awk '
    /trace:msi:MsiConfigureProductExW L"\{/ {
      p = $0; sub(/.*MsiConfigureProductExW L"/, "", p); sub(/".*/, "", p); product = p
    }
    /trace:msi:apply_substorage_transform [0-9A-Fa-f]+ L":/ {
      n = $0; sub(/.*L":/, "", n); sub(/".*/, "", n); cur = n
    }
    /trace:msi:check_transform_applicable applicable transform/ {
      if (cur != "") print product, cur; cur = ""
    }
    /wasn.t applicable/ { cur = "" }
  ' "$1"
}

accepted_for() { # TRACE PRODUCT -> space-separated names
  accepted_from_trace "$1" | awk -v p="$2" '$1 == p { print $2 }' | tr '\n' ' ' | sed 's/ $//'
}

# state of PRODUCT in a harness output: version, and patch state of PATCHCODE
product_line() { grep -F "op=product product=$2 " "$1.out" | head -n1; }
patch_state() { # OUT PRODUCT PATCHCODE
  local l
  l="$(grep -F "op=patchstate product=$2 patch=$3 " "$1.out" | head -n1)"
  [ -n "$l" ] && kv "$l" state || echo none
}

install_pkg() { # PACKAGE EXPECTED-PRODUCT
  local o l
  wine_run install "$1"; o="$WR"
  l="$(grep '^op=install ' "$o.out")"
  [ "$(kv "$l" rc)" = 0 ] || { fail "install $(basename "$1"): rc=$(kv "$l" rc)"; return 1; }
  [ "$(kv "$l" product)" = "$2" ] || fail "install $(basename "$1"): product $(kv "$l" product), expected $2"
  [ "$(kv "$l" version)" = "$F_FROM" ] || fail "install $(basename "$1"): version $(kv "$l" version), expected $F_FROM"
}

expect_applicable() { # PACKAGE PATCH yes|no
  local o l
  wine_run applicable "$1" "$2"; o="$WR"
  l="$(grep '^op=applicable ' "$o.out" | head -n1)"
  if [ "$3" = yes ]; then
    [ "$(kv "$l" order)" = 0 ] && [ "$(kv "$l" status)" = 0 ] ||
      fail "MsiDetermineApplicablePatches($(basename "$1"), $(basename "$2")): order=$(kv "$l" order) status=$(kv "$l" status), expected order=0 status=0"
  else
    [ "$(kv "$l" order)" = -1 ] && [ "$(kv "$l" status)" = 1642 ] ||
      fail "MsiDetermineApplicablePatches($(basename "$1"), $(basename "$2")): order=$(kv "$l" order) status=$(kv "$l" status), expected order=-1 status=1642"
  fi
}

# After a patch call (harness output base $1, trace in $1.trace):
expect_patched() { # OUTBASE PRODUCT PATCHCODE VERSION "ACCEPTED NAMES"
  local got state ver
  ver="$(kv "$(product_line "$1" "$2")" version)"
  state="$(patch_state "$1" "$2" "$3")"
  got="$(accepted_for "$1.trace" "$2")"
  [ "$ver" = "$4" ] || fail "$2: version $ver after patching, expected $4"
  [ "$state" = 1 ] || fail "$2: patch $3 state '$state', expected 1 (applied)"
  [ "$got" = "$5" ] || fail "$2: accepted transforms [$got], expected [$5]"
}

expect_untouched() { # OUTBASE PRODUCT PATCHCODE
  local state ver got
  ver="$(kv "$(product_line "$1" "$2")" version)"
  state="$(patch_state "$1" "$2" "$3")"
  got="$(accepted_for "$1.trace" "$2")"
  [ "$ver" = "$F_FROM" ] || fail "$2: version '$ver', expected it to stay $F_FROM"
  [ "$state" = none ] || fail "$2: patch $3 registered with state $state, expected not registered"
  [ -z "$got" ] || fail "$2: transforms accepted [$got], expected none"
}

# an instance package: a copy of the product package carrying a new ProductCode
make_instance() { # SOURCE CODE DEST
  cp "$1" "$3" && chmod u+w "$3" &&
    msibuild "$3" -q "UPDATE Property SET Value='$2' WHERE Property='ProductCode'" ||
    { fail "msibuild could not make $(basename "$3")"; return 1; }
}

# names of the copies made for instance CODE (new LastSavedBy entries holding
# the first 8 hex digits of CODE), in LastSavedBy order
copies_for() { # CODE
  local hex
  hex="$(upper "${1:1:8}")"
  comm -13 <(lsb_entries "$F_PATCH" | sort) <(lsb_entries "$F_OUT" | sort) >"$CDIR/new-entries"
  lsb_entries "$F_OUT" | grep -Fxf "$CDIR/new-entries" | while read -r n; do
    case "$(upper "$n")" in *"$hex"*) printf '%s\n' "$n" ;; esac
  done | tr '\n' ' ' | sed 's/ $//'
}

patch_code() { summary_field "$1" 'Revision number (UUID)' | grep -o '^{[^}]*}'; }

# ------------------------------------------------------ retargeted patch ----

declare -A OUT_ERR=()
retarget() { # build $F_OUT once per family; sets OUT_ERR[$F_NAME] on failure
  [ -n "${OUT_ERR[$F_NAME]+x}" ] && return
  OUT_ERR[$F_NAME]=""
  mkdir -p "$WORK/out"
  if [ "$TOOL_OK" != 1 ]; then OUT_ERR[$F_NAME]="$TOOL_ERR"; return; fi
  rm -f "$F_OUT"
  "$TOOL" retarget "$F_PATCH" --instance "$I1" --instance "$I2" -o "$F_OUT" \
    >"$WORK/out/$F_NAME.log" 2>&1
  local rc=$?
  if [ $rc != 0 ]; then
    OUT_ERR[$F_NAME]="msp-retarget retarget exited $rc (see $WORK/out/$F_NAME.log)"
  elif [ ! -s "$F_OUT" ]; then
    OUT_ERR[$F_NAME]="msp-retarget exited 0 but wrote no $F_OUT"
  else
    local t
    t="$(summary_field "$F_OUT" Template)"
    for c in "$F_BASE" "$I1" "$I2"; do
      case ";$t;" in *";$c;"*) ;; *) OUT_ERR[$F_NAME]="retargeted Template '$t' lacks $c" ;; esac
    done
  fi
}

need_out() { # fails the case when the retargeted patch is not available
  retarget
  if [ -n "${OUT_ERR[$F_NAME]}" ]; then
    fail "no retargeted patch: ${OUT_ERR[$F_NAME]}"
    return 1
  fi
}

# ---------------------------------------------------------------- cases ----

# a: the original patch installs on its own product.
case_a() {
  local o
  expect_applicable "$F_PKG" "$F_PATCH" yes
  install_pkg "$F_PKG" "$F_BASE" || return
  wine_run trace patch "$F_BASE" "$F_PATCH"; o="$WR"
  expect_patched "$o" "$F_BASE" "$PCODE" "$F_TO" "$F_ACCEPT"
  # Wine reads the validation flags from the low word of CharCount (0x....001F)
  grep -q 'check_transform_applicable validation flags 0x001f' "$o.trace" ||
    fail "no 'validation flags 0x001f' line in the trace (low-word quirk changed?)"
}

# b: instance packages refuse the original patch.
case_b() {
  local o code pkg
  make_instance "$F_PKG" "$I1" "$CDIR/I1.msi" || return
  make_instance "$F_PKG" "$I2" "$CDIR/I2.msi" || return
  for code in "$I1" "$I2"; do
    pkg="$CDIR/I${code:1:1}.msi"
    expect_applicable "$pkg" "$F_PATCH" no
    install_pkg "$pkg" "$code" || return
  done
  for code in "$I1" "$I2"; do
    wine_run trace patch "$code" "$F_PATCH"; o="$WR"
    expect_untouched "$o" "$code" "$PCODE"
    grep -q 'msi_apply_patch_package patch not applicable' "$o.trace" ||
      fail "$code: no 'patch not applicable' line in the trace"
  done
}

# c: the retargeted patch installs on each instance with that instance's copies
# only, and still on the base product with the original pairs only.
case_c() {
  need_out || return
  local o code pkg want
  make_instance "$F_PKG" "$I1" "$CDIR/I1.msi" || return
  make_instance "$F_PKG" "$I2" "$CDIR/I2.msi" || return
  expect_applicable "$F_PKG" "$F_OUT" yes
  install_pkg "$F_PKG" "$F_BASE" || return
  for code in "$I1" "$I2"; do
    pkg="$CDIR/I${code:1:1}.msi"
    expect_applicable "$pkg" "$F_OUT" yes
    install_pkg "$pkg" "$code" || return
  done
  wine_run trace patch "$F_BASE" "$F_OUT"; o="$WR"
  expect_patched "$o" "$F_BASE" "$PCODE" "$F_TO" "$F_ACCEPT"
  for code in "$I1" "$I2"; do
    want="$(copies_for "$code")"
    [ -n "$want" ] || { fail "no LastSavedBy entry of $(basename "$F_OUT") names ${code:1:8}"; continue; }
    [ "$(wc -w <<<"$want")" = "$(wc -w <<<"$F_ACCEPT")" ] ||
      fail "copies for $code: [$want], expected one per accepted original [$F_ACCEPT]"
    wine_run trace patch "$code" "$F_OUT"; o="$WR"
    expect_patched "$o" "$code" "$PCODE" "$F_TO" "$want"
    if [ "$code" = "$I1" ]; then expect_untouched "$o" "$I2" "$PCODE"; fi
  done
}

# c for a Template-only retarget (rtmldr): the pair does not validate the product
# code by the documented high word, so the tool adds no copies and Windows would
# apply the original pair to every instance.  Wine reads the low word (0x001F:
# product code checked) and refuses that pair on an instance while still
# registering the patch.  This case checks layer 1 (Template) and that the quirk
# is still what it was; Wine cannot judge the transform layer here.
case_c_template() {
  need_out || return
  local o
  [ "$(lsb_entries "$F_OUT" | tr '\n' ' ')" = "$(lsb_entries "$F_PATCH" | tr '\n' ' ')" ] ||
    fail "LastSavedBy changed: [$(lsb_entries "$F_OUT" | tr '\n' ' ')]; expected a Template-only retarget"
  make_instance "$F_PKG" "$I1" "$CDIR/I1.msi" || return
  expect_applicable "$CDIR/I1.msi" "$F_OUT" yes
  expect_applicable "$F_PKG" "$F_OUT" yes
  install_pkg "$F_PKG" "$F_BASE" || return
  install_pkg "$CDIR/I1.msi" "$I1" || return
  wine_run trace patch "$F_BASE" "$F_OUT"; o="$WR"
  expect_patched "$o" "$F_BASE" "$PCODE" "$F_TO" "$F_ACCEPT"
  wine_run trace patch "$I1" "$F_OUT"; o="$WR"
  [ "$(patch_state "$o" "$I1" "$PCODE")" = 1 ] ||
    fail "$I1: patch not registered (Template route refused?)"
  [ -z "$(accepted_for "$o.trace" "$I1")" ] &&
    grep -q "substorage transform L\"${F_ACCEPT%% *}\" wasn't applicable" "$o.trace" ||
    fail "$I1: Wine accepted [$(accepted_for "$o.trace" "$I1")]: the low-word quirk changed; revisit this case"
}

# d: an unrelated product refuses the retargeted patch.
case_d() {
  need_out || return
  local o ucode
  ucode="$(grep -o "{[0-9A-F-]*}" <<<"$(msiinfo export "$F_UNREL" Property | grep '^ProductCode')")"
  expect_applicable "$F_UNREL" "$F_OUT" no
  install_pkg "$F_UNREL" "$ucode" || return
  wine_run trace patch "$ucode" "$F_OUT"; o="$WR"
  expect_untouched "$o" "$ucode" "$PCODE"
}

# e: discovery (the msiexec /p route: no product given, targets from Template)
# with base, I1, I2 and the unrelated product installed side by side.
case_e() {
  need_out || return
  local o ucode code
  ucode="$(grep -o "{[0-9A-F-]*}" <<<"$(msiinfo export "$F_UNREL" Property | grep '^ProductCode')")"
  make_instance "$F_PKG" "$I1" "$CDIR/I1.msi" || return
  make_instance "$F_PKG" "$I2" "$CDIR/I2.msi" || return
  install_pkg "$F_PKG" "$F_BASE" || return
  install_pkg "$CDIR/I1.msi" "$I1" || return
  install_pkg "$CDIR/I2.msi" "$I2" || return
  install_pkg "$F_UNREL" "$ucode" || return
  wine_run trace patch '*' "$F_OUT"; o="$WR"
  expect_patched "$o" "$F_BASE" "$PCODE" "$F_TO" "$F_ACCEPT"
  for code in "$I1" "$I2"; do
    expect_patched "$o" "$code" "$PCODE" "$F_TO" "$(copies_for "$code")"
  done
  expect_untouched "$o" "$ucode" "$PCODE"
}

# quirks: facts about Wine the suite relies on, checked on every run.
case_quirks() {
  local o l
  # Template is compared case-sensitively: a package whose ProductCode is the
  # base code in lower case does not match the patch's upper-case Template.
  make_instance "$F_PKG" "$(tr '[:upper:]' '[:lower:]' <<<"$F_BASE")" "$CDIR/lower.msi" || return
  expect_applicable "$CDIR/lower.msi" "$F_PATCH" no
  expect_applicable "$F_PKG" "$F_PATCH" yes
  # MsiDetermineApplicablePatchesW looks at Template only: it opens no transform.
  wine_run trace applicable "$F_PKG" "$F_PATCH"; o="$WR"
  grep -q 'order=0 status=0' "$o.out" || fail "traced MsiDetermineApplicablePatches did not return 0/0"
  ! grep -qE 'apply_substorage_transform|check_transform_applicable' "$o.trace" ||
    fail "MsiDetermineApplicablePatches opened transforms (quirk changed?)"
  # msiexec's exit status is cut to 8 bits: ERROR_UNKNOWN_PRODUCT 1605 -> 69.
  WINEPREFIX="$CDIR/prefix" wine msiexec /x '{00000000-0000-4000-8000-000000000000}' /qn \
    >"$CDIR/msiexec.out" 2>&1
  l=$?
  [ "$l" = $((1605 % 256)) ] || fail "msiexec /x of an unknown product exited $l, expected 69 (1605 & 0xFF)"
  # A patch refused by Template still returns success from the API.
  install_pkg "$CDIR/lower.msi" "$(tr '[:upper:]' '[:lower:]' <<<"$F_BASE")" || return
  wine_run trace patch "$(tr '[:upper:]' '[:lower:]' <<<"$F_BASE")" "$F_PATCH"; o="$WR"
  l="$(grep '^op=patch ' "$o.out")"
  [ "$(kv "$l" rc)" = 0 ] || fail "skipped patch returned rc=$(kv "$l" rc), expected 0 (quirk changed?)"
  grep -q 'msi_apply_patch_package patch not applicable' "$o.trace" ||
    fail "no 'patch not applicable' line for the lower-case product"
}

# The patches `msp-retarget sequence PATCHES... --package|--product ...` keeps
# for the product (sequenced, or eliminated as superseded or obsolete, which
# MsiDeterminePatchSequence reports with status 0 too), as file names in the
# order given, into OURS.  Fails the case when the tool errs (exit 2).
our_applicable() { # OUTFILE PATCH... -- PRODUCT-ARGS...
  local json="$1" keep p
  shift
  local patches=()
  while [ "$1" != -- ]; do patches+=("$1"); shift; done
  shift
  OURS=""
  "$TOOL" sequence "${patches[@]}" "$@" --json >"$json" 2>"$json.err"
  [ $? -le 1 ] || { fail "msp-retarget sequence failed: $(head -n1 "$json.err")"; return 1; }
  keep="$(jq -r '.products[0] | (.sequence[].patch), (.dropped[] | select(.reason != "not_applicable") | .patch)' "$json")" ||
    { fail "cannot read the JSON of msp-retarget sequence ($json)"; return 1; }
  for p in "${patches[@]}"; do
    if grep -Fxq "$p" <<<"$keep"; then OURS="$OURS $(basename "$p")"; fi
  done
  OURS="${OURS# }"
}

# The patches a harness output (op=applicable or op=sequence lines) gives
# status 0, as file names in the order given.
wine_applicable() { # OUTBASE OP
  grep "^op=$2 " "$1.out" | while read -r l; do
    if [ "$(kv "$l" status)" = 0 ]; then basename "$(kv "$l" patch)"; fi
  done | tr '\n' ' ' | sed 's/ $//'
}

# The dwOrder Wine gives each patch with status 0 differs from its index in
# the list given: prints "INDEX:ORDER" pairs that differ (none expected).
wine_reordered() { # OUTBASE OP
  local i=0 l
  grep "^op=$2 " "$1.out" | while read -r l; do
    if [ "$(kv "$l" status)" = 0 ] && [ "$(kv "$l" order)" != "$i" ]; then
      printf '%s:%s ' "$i" "$(kv "$l" order)"
    fi
    i=$((i + 1))
  done
}

# sequence: which patches apply to each product, per `msp-retarget sequence`
# and per Wine (MsiDetermineApplicablePatchesW on the package,
# MsiDeterminePatchSequenceW on the installed product): status 0 or 1642 per
# patch.  Wine decides by Template only and does not order (see
# docs/applicability.md), so the statuses are compared, and Wine's order is
# asserted to be the order given: its missing sequencing, checked so that a
# change shows up.  The patches: gdr1 and rtmldr retargeted to I1 and I2, and
# PatchAv101 and PatchBv101; the products: rtm-product, an I1 package made from
# it, prodAv100 and prodBv100.
case_sequence() {
  local fam pset=() row pkg code want ours wine o l n OURS
  for fam in "${FAMILIES[@]}"; do
    load_family "$fam"
    case "$F_NAME" in gdr1 | rtmldr) need_out || return; pset+=("$F_OUT") ;; esac
  done
  pset+=("$WIX/PatchAv101.msp" "$WIX/PatchBv101.msp")
  make_instance "$WIX/rtm-product.msi" "$I1" "$CDIR/I1.msi" || return
  local rows=(
    "$WIX/rtm-product.msi|{FB94421B-7FA3-4495-A9D7-212099C19147}|gdr1.msp rtmldr.msp"
    "$CDIR/I1.msi|$I1|gdr1.msp rtmldr.msp"
    "$WIX/prodAv100.msi|{6EA3AE83-A14F-4B8B-8A86-BB977A9E7833}|PatchAv101.msp"
    "$WIX/prodBv100.msi|{398B8855-E3B8-4559-9C2B-3ED457C5A889}|PatchBv101.msp"
  )
  F_FROM=1.0.0.0
  for row in "${rows[@]}"; do
    IFS='|' read -r pkg code want <<<"$row"
    n="$(basename "$pkg")"
    our_applicable "$CDIR/ours-$n.json" "${pset[@]}" -- --package "$pkg" || continue
    ours="$OURS"
    [ "$ours" = "$want" ] || fail "msp-retarget sequence on $n: applicable [$ours], expected [$want]"
    wine_run applicable "$pkg" "${pset[@]}"; o="$WR"
    wine="$(wine_applicable "$o" applicable)"
    [ "$wine" = "$ours" ] ||
      fail "MsiDetermineApplicablePatches($n): status 0 for [$wine], msp-retarget sequence keeps [$ours]"
    # Wine does not sequence: each applicable patch keeps its index as order.
    l="$(wine_reordered "$o" applicable)"
    [ -z "$l" ] ||
      fail "MsiDetermineApplicablePatches($n): index:order [$l]; expected Wine to keep the order given (quirk changed?)"
    # The installed route, for the products installed side by side.
    case "$n" in rtm-product.msi | I1.msi)
      install_pkg "$pkg" "$code" || continue
      wine_run sequence "$code" "${pset[@]}"; o="$WR"
      grep -q '^op=sequence-done .* rc=0$' "$o.out" ||
        fail "MsiDeterminePatchSequence($code): $(grep '^op=sequence-done' "$o.out")"
      wine="$(wine_applicable "$o" sequence)"
      [ "$wine" = "$ours" ] ||
        fail "MsiDeterminePatchSequence($code): status 0 for [$wine], msp-retarget sequence keeps [$ours]"
      l="$(wine_reordered "$o" sequence)"
      [ -z "$l" ] ||
        fail "MsiDeterminePatchSequence($code): index:order [$l]; expected Wine to keep the order given (quirk changed?)"
      ;;
    esac
  done
}

# ------------------------------------------------------- components ----
# The shipped samples of component isolation (testdata/README.md): a patch whose
# main transform inserts Component NewComp, and the product as it leaves it,
# with instance transforms Instance1 and Instance2 that give every component a
# code of the instance's own (WiX MultiInstance style).
NC_PATCH="$REPO/testdata/new-component.msp"
NC_PRODUCT="$REPO/testdata/new-component-product.msi"
NC_SOURCE=rtmNC.1

component_id() { # OUTBASE KEY -> the ComponentId msi.dll read for KEY
  grep "^op=component key=$2 " "$1.out" | head -n1 | sed 's/.* id=//'
}

transforms_applied() { # OUTBASE: every op=transform line has rc=0
  local l
  while read -r l; do
    [ "$(kv "$l" rc)" = 0 ] || fail "MsiDatabaseApplyTransform($(kv "$l" transform)): rc=$(kv "$l" rc)"
  done < <(grep '^op=transform ' "$1.out")
  grep -q '^op=components-done rc=0$' "$1.out" || fail "SELECT ComponentId failed: $(grep '^op=components-done' "$1.out")"
}

# The instance database (the product with the instance's transform applied)
# with one more transform applied: NewComp's ComponentId must be WANT.
expect_component() { # INSTANCE-ID TRANSFORM WANT WHAT
  local o
  wine_run components "$NC_PRODUCT" ":$1" "$2"; o="$WR"
  transforms_applied "$o"
  [ "$(component_id "$o" NewComp)" = "$3" ] ||
    fail "$1 + $4: NewComp is [$(component_id "$o" NewComp)], expected [$3]"
  [ "$(component_id "$o" MainComp)" = "${MAIN_OF[$1]}" ] ||
    fail "$1 + $4: MainComp is [$(component_id "$o" MainComp)], expected the instance's [${MAIN_OF[$1]}]"
}

# components: msi.dll applies each instance's copy onto the instance's database
# and reads SELECT ComponentId back: the copy made with --instances-from gives
# NewComp the code of the instance's own transform, the copy made from a list
# of ids with --isolate-components all the MultiInstance code (the same, for
# this product), and the original transform the base code to every instance.
case_components() {
  [ "$TOOL_OK" = 1 ] || { fail "$TOOL_ERR"; return; }
  local o i base code want copy json out mode list l
  declare -gA MAIN_OF=() WANT_OF=()
  wine_run components "$NC_PRODUCT"; o="$WR"
  base="$(component_id "$o" NewComp)"
  [ -n "$base" ] || { fail "the product has no NewComp row"; return; }
  for i in Instance1 Instance2; do
    wine_run components "$NC_PRODUCT" ":$i"; o="$WR"
    transforms_applied "$o"
    WANT_OF[$i]="$(component_id "$o" NewComp)"
    MAIN_OF[$i]="$(component_id "$o" MainComp)"
    [ -n "${WANT_OF[$i]}" ] && [ "${WANT_OF[$i]}" != "$base" ] ||
      fail "$i: its transform gives NewComp [${WANT_OF[$i]}]; expected a code of its own"
    # The original patch transform gives every instance the base's code.
    expect_component "$i" "$NC_PATCH:$NC_SOURCE" "$base" "the original $NC_SOURCE"
  done
  [ "${WANT_OF[Instance1]}" != "${WANT_OF[Instance2]}" ] || fail "both instances have one NewComp code"
  list="$CDIR/instances.txt"
  for mode in from-product list-all; do
    out="$CDIR/$mode.msp"
    json="$CDIR/$mode.json"
    case $mode in
      from-product) "$TOOL" retarget "$NC_PATCH" --instances-from "$NC_PRODUCT" -o "$out" --json >"$json" 2>"$json.err" ;;
      list-all)
        # The same instances as a list file: ids and codes, no transform.
        jq -r '.plan.instances[] | "\(.id) \(.instance)"' "$CDIR/from-product.json" >"$list" &&
          "$TOOL" retarget "$NC_PATCH" --instances-file "$list" --isolate-components all -o "$out" --json >"$json" 2>"$json.err" ;;
    esac || { fail "$mode: msp-retarget retarget exited $?: $(head -n1 "$json.err")"; continue; }
    for i in Instance1 Instance2; do
      code="$(jq -r --arg i "$i" '.plan.instances[] | select(.id == $i) | .instance' "$json")"
      copy="$(jq -r --arg c "$code" --arg s "$NC_SOURCE" '.plan.copies[] | select(.instance == $c and .source == $s) | .name' "$json")"
      want="$(jq -r --arg i "$i" '.plan.instances[] | select(.id == $i) | .components[] | select(.component == "NewComp") | .code' "$json")"
      [ "$want" = "${WANT_OF[$i]}" ] ||
        fail "$mode: the report gives $i NewComp [$want]; its instance transform says [${WANT_OF[$i]}]"
      [ -n "$copy" ] || { fail "$mode: no copy of $NC_SOURCE for $i ($code)"; continue; }
      expect_component "$i" "$out:$copy" "${WANT_OF[$i]}" "copy $copy ($mode)"
    done
  done
  # Installed: two instance packages (the product before the patch, carrying
  # the instance's ProductCode and MainComp code, as the instance transform
  # gives them) and the patch retargeted from the product: each instance's
  # NewComp code has one client, that instance; the base's code has none.
  out="$CDIR/from-product.msp"
  [ -s "$out" ] || return
  local pkg before="$CDIR/before.msi"
  cp "$NC_PRODUCT" "$before" && chmod u+w "$before" &&
    msibuild "$before" -q "DELETE FROM Component WHERE Component='NewComp'" &&
    msibuild "$before" -q "DELETE FROM FeatureComponents WHERE Component_='NewComp'" &&
    msibuild "$before" -q "UPDATE Property SET Value='1.0.0.0' WHERE Property='ProductVersion'" ||
    { fail "msibuild could not make the product before the patch"; return; }
  F_FROM=1.0.0.0
  for i in Instance1 Instance2; do
    code="$(jq -r --arg i "$i" '.plan.instances[] | select(.id == $i) | .instance' "$CDIR/from-product.json")"
    pkg="$CDIR/$i.msi"
    cp "$before" "$pkg" &&
      msibuild "$pkg" -q "UPDATE Property SET Value='$code' WHERE Property='ProductCode'" &&
      msibuild "$pkg" -q "UPDATE Component SET ComponentId='${MAIN_OF[$i]}' WHERE Component='MainComp'" ||
      { fail "msibuild could not make $i.msi"; return; }
    install_pkg "$pkg" "$code" || return
    wine_run trace patch "$code" "$out"; o="$WR"
    [ "$(kv "$(product_line "$o" "$code")" version)" = 1.0.1.0 ] ||
      fail "$i: version $(kv "$(product_line "$o" "$code")" version) after patching, expected 1.0.1.0"
    [ "$(accepted_for "$o.trace" "$code")" = "rtmNC.1_$i #rtmNC.1_$i" ] ||
      fail "$i: accepted transforms [$(accepted_for "$o.trace" "$code")], expected [rtmNC.1_$i #rtmNC.1_$i]"
  done
  wine_run clients "${WANT_OF[Instance1]}" "${WANT_OF[Instance2]}" "$base"; o="$WR"
  for i in Instance1 Instance2; do
    code="$(jq -r --arg i "$i" '.plan.instances[] | select(.id == $i) | .instance' "$CDIR/from-product.json")"
    l="$(grep -F "op=clients component=${WANT_OF[$i]} " "$o.out")"
    [ "$(kv "$l" count)" = 1 ] || fail "$i: NewComp ${WANT_OF[$i]} has $(kv "$l" count) clients, expected 1"
    grep -qF "op=client component=${WANT_OF[$i]} product=$code" "$o.out" ||
      fail "$i: NewComp ${WANT_OF[$i]} is not registered to $code"
  done
  l="$(grep -F "op=clients component=$base " "$o.out")"
  [ "$(kv "$l" count)" = 0 ] || fail "the base's NewComp $base has $(kv "$l" count) clients, expected 0"
}

# instances-add: `msp-retarget instances add` on the product, then msi.dll
# reads each embedded transform (MsiDatabaseApplyTransformW ":ID") and each
# stand-alone .mst of --mst-dir: Property and Component rows as planned;
# MSINEWINSTANCE=1 TRANSFORMS=:ID registers the instance's product code; a
# patch retargeted with --instances-from the result installs on an instance
# package (the product with the instance transform committed) with that
# instance's copies only.
case_instances() {
  local o l id code name json="$CDIR/add.json" want got comp to n base_lines
  mkdir -p "$CDIR/mst"
  "$TOOL" instances add "$F_PKG" --count 2 --property INSTANCEID --isolate-components all \
    --mst-dir "$CDIR/mst" -o "$CDIR/multi.msi" --json >"$json" 2>"$CDIR/add.err" ||
    { fail "msp-retarget instances add failed: $(head -n1 "$CDIR/add.err")"; return; }
  [ "$(jq -r '.plan.added | length' "$json")" = 2 ] || { fail "instances add planned no 2 instances"; return; }
  for n in 0 1; do
    id="$(jq -r ".plan.added[$n].id" "$json")"
    code="$(jq -r ".plan.added[$n].product_code" "$json")"
    name="$(jq -r ".plan.added[$n].product_name" "$json" | tr ' ' '?')"
    cp "$CDIR/multi.msi" "$CDIR/$id.msi" && chmod u+w "$CDIR/$id.msi"
    for t in ":$id" "$CDIR/mst/$id.mst"; do
      if [ "$t" = ":$id" ]; then wine_run transform "$CDIR/$id.msi" "$t" commit; else wine_run transform "$CDIR/multi.msi" "$t"; fi
      o="$WR"
      l="$(grep '^op=transform ' "$o.out")"
      [ "$(kv "$l" rc)" = 0 ] || { fail "MsiDatabaseApplyTransform($t): open_rc=$(kv "$l" open_rc) rc=$(kv "$l" rc)"; continue; }
      for want in "ProductCode=$code" "ProductName=$name" "INSTANCEID=$id"; do
        got="$(grep "^op=property name=${want%%=*} " "$o.out" | head -n1)"
        [ "$(kv "$got" value)" = "${want#*=}" ] ||
          fail "after $t: ${want%%=*} is '$(kv "$got" value)', expected '${want#*=}'"
      done
      while IFS='|' read -r comp to; do
        got="$(grep "^op=component component=$comp " "$o.out" | head -n1)"
        [ "$(kv "$got" id)" = "$to" ] || fail "after $t: ComponentId of $comp is '$(kv "$got" id)', expected $to"
      done < <(jq -r ".plan.added[$n].components[] | \"\(.component)|\(.to)\"" "$json")
      # --isolate-components all: every component of the product was planned.
      [ "$(grep -c '^op=component ' "$o.out")" = "$(jq ".plan.added[$n].components | length" "$json")" ] ||
        fail "after $t: $(grep -c '^op=component ' "$o.out") Component rows, $(jq ".plan.added[$n].components | length" "$json") isolated"
    done
    grep -q '^op=commit rc=0$' "$CDIR/$(printf '%02d' $((STEP - 1)))-transform.out" ||
      fail "MsiDatabaseCommit of $id.msi failed"
  done
  local c1 c2
  c1="$(jq -r '.plan.added[0].product_code' "$json")"
  c2="$(jq -r '.plan.added[1].product_code' "$json")"
  # The standard command line registers the instance's product code.
  wine_run install "$CDIR/multi.msi" "MSINEWINSTANCE=1 TRANSFORMS=:Instance2"; o="$WR"
  [ "$(kv "$(grep '^op=install ' "$o.out")" rc)" = 0 ] || fail "MSINEWINSTANCE install of Instance2: $(grep '^op=install ' "$o.out")"
  wine_run query "$c2"; o="$WR"
  [ "$(kv "$(product_line "$o" "$c2")" version)" = "$F_FROM" ] ||
    fail "Instance2 ($c2) not registered after MSINEWINSTANCE=1 TRANSFORMS=:Instance2: $(product_line "$o" "$c2")"
  wine_run query "$F_BASE"; o="$WR"
  [ "$(kv "$(product_line "$o" "$F_BASE")" version)" = - ] ||
    fail "the base product was registered by an instance install: $(product_line "$o" "$F_BASE")"
  # A patch retargeted to the instances the product defines.
  "$TOOL" retarget "$F_PATCH" --instances-from "$CDIR/multi.msi" -o "$CDIR/out.msp" \
    >"$CDIR/retarget.log" 2>&1 || { fail "retarget --instances-from failed: $(tail -n1 "$CDIR/retarget.log")"; return; }
  install_pkg "$CDIR/Instance1.msi" "$c1" || return
  wine_run trace patch "$c1" "$CDIR/out.msp"; o="$WR"
  expect_patched "$o" "$c1" "$PCODE" "$F_TO" "rtmA.1_Instance1 #rtmA.1_Instance1"
  expect_untouched "$o" "$c2" "$PCODE"
  # Quirk 8: maintenance of an instance installed through MSINEWINSTANCE
  # reopens the untransformed package, so patching it patches the base code.
  wine_run trace patch "$c2" "$CDIR/out.msp"; o="$WR"
  base_lines="$(product_line "$o" "$F_BASE")"
  [ "$(kv "$(product_line "$o" "$c2")" version)" = "$F_FROM" ] && [ "$(kv "$base_lines" version)" = "$F_TO" ] ||
    fail "patching Instance2 ($c2): [$(product_line "$o" "$c2")] [$base_lines]; expected Wine to patch the base code instead (quirk 8 changed?)"
}

# ---------------------------------------------------- sequencing rows ----
# MsiPatchSequence rows keyed to the base are mirrored for each instance
# (docs/applicability.md). The corpus patches carry only NULL-keyed rows, so
# the input is PatchAv101.msp with a row keyed to its base added by msibuild
# (which also stamps the database CLSID on the root and none on the
# substorages: the root's patch CLSID is put back, the rows are all this case
# reads). Wine's msi.dll reads the rows of the input, of the retargeted patch
# and of that patch untargeted from I1, each opened as a patch file.
wine_patchseq() { # PATCH -> sorted "family product sequence attributes" lines
  wine_run patchseq "$1"
  grep -q '^op=patchseq-done rc=0$' "$WR.out" ||
    fail "msi.dll could not read MsiPatchSequence of $(basename "$1"): $(grep '^op=open\|^op=patchseq-done' "$WR.out" | tr '\n' ' ')"
  sed -n 's/^op=patchseq family=\([^ ]*\) product=\([^ ]*\) sequence=\([^ ]*\) attributes=\(.*\)$/\1 \2 \3 \4/p' "$WR.out" | sort
}

case_patch_sequence() {
  local keyed="$CDIR/keyed.msp" out="$CDIR/keyed-all.msp" back="$CDIR/keyed-i2.msp" dir0 got want
  cp "$F_PATCH" "$keyed" && chmod u+w "$keyed" &&
    msibuild "$keyed" -q "INSERT INTO MsiPatchSequence (PatchFamily, ProductCode, Sequence, Attributes) VALUES ('SP', '$F_BASE', '1.0.1.0', 1)" ||
    { fail "msibuild could not add a keyed row"; return; }
  # Root CLSID {000C1086-...} (patch) instead of msibuild's {000C1084-...}: the
  # first byte of the root entry's CLSID (version 3: 512-byte sectors).
  dir0="$(od -An -tu4 -j48 -N4 "$keyed" | tr -d ' ')"
  printf '\x86' | dd of="$keyed" bs=1 seek=$(((dir0 + 1) * 512 + 0x50)) conv=notrunc status=none
  [ "$(summary_field "$keyed" Template)" = "$F_BASE" ] || { fail "keyed.msp lost its Template"; return; }
  "$TOOL" retarget "$keyed" --instance "$I1" --instance "$I2" -o "$out" >"$CDIR/retarget.log" 2>&1 ||
    { fail "msp-retarget retarget keyed.msp failed (see $CDIR/retarget.log)"; return; }
  "$TOOL" untarget "$out" --instance "$I1" -o "$back" >"$CDIR/untarget.log" 2>&1 ||
    { fail "msp-retarget untarget failed (see $CDIR/untarget.log)"; return; }
  local null="SP - 1.0.1.0 1" base="SP $F_BASE 1.0.1.0 1" i1="SP $I1 1.0.1.0 1" i2="SP $I2 1.0.1.0 1"
  got="$(wine_patchseq "$keyed")"
  want="$(printf '%s\n' "$null" "$base" | sort)"
  [ "$got" = "$want" ] || fail "input rows [$(tr '\n' ';' <<<"$got")], expected [$(tr '\n' ';' <<<"$want")]"
  got="$(wine_patchseq "$out")"
  want="$(printf '%s\n' "$null" "$base" "$i1" "$i2" | sort)"
  [ "$got" = "$want" ] || fail "retargeted rows [$(tr '\n' ';' <<<"$got")], expected [$(tr '\n' ';' <<<"$want")]"
  got="$(wine_patchseq "$back")"
  want="$(printf '%s\n' "$null" "$base" "$i2" | sort)"
  [ "$got" = "$want" ] || fail "rows after untargeting I1 [$(tr '\n' ';' <<<"$got")], expected [$(tr '\n' ';' <<<"$want")]"
  # The corpus patch itself (NULL row only) gains no row.
  need_out || return
  got="$(wine_patchseq "$F_OUT")"
  [ "$got" = "$null" ] || fail "$(basename "$F_OUT") rows [$(tr '\n' ';' <<<"$got")], expected [$null]"
}

CASES=()
for fam in "${FAMILIES[@]}"; do
  load_family "$fam"
  CASES+=("$F_NAME-a-baseline|$fam|case_a" "$F_NAME-b-original-refused|$fam|case_b")
  if [ "$F_MODE" = copies ]; then
    CASES+=("$F_NAME-c-retargeted|$fam|case_c" "$F_NAME-e-discovery|$fam|case_e")
  else
    CASES+=("$F_NAME-c-template-only|$fam|case_c_template")
  fi
  CASES+=("$F_NAME-d-unrelated|$fam|case_d")
done
CASES+=("wine-quirks|${FAMILIES[0]}|case_quirks")
CASES+=("sequence-status|${FAMILIES[0]}|case_sequence")
CASES+=("patch-sequence-rows|${FAMILIES[0]}|case_patch_sequence")
CASES+=("instances-add|${FAMILIES[0]}|case_instances")
CASES+=("components|${FAMILIES[0]}|case_components")

selected() {
  [ $# -le 1 ] && return 0
  local name="$1" pat
  shift
  for pat in "$@"; do
    # shellcheck disable=SC2053
    [[ $name == $pat ]] && return 0
  done
  return 1
}

run_case() { # NAME FAMILY FUNCTION
  CASE="$1"
  CDIR="$WORK/cases/$CASE"
  PROBLEMS=()
  STEP=0
  load_family "$2"
  PCODE="$(patch_code "$F_PATCH")"
  local t0=$SECONDS
  rm -rf "$CDIR"
  mkdir -p "$CDIR"
  if ! cp -a "$PRISTINE" "$CDIR/prefix"; then
    fail "could not copy the pristine prefix"
  else
    "$3"
  fi
  WINEPREFIX="$CDIR/prefix" wineserver -k 2>/dev/null
  WINEPREFIX="$CDIR/prefix" wineserver -w 2>/dev/null
  rm -rf "$CDIR/prefix"
  if [ ${#PROBLEMS[@]} -eq 0 ]; then
    PASSED=$((PASSED + 1))
    log "PASS $CASE ($((SECONDS - t0)) s)"
  else
    FAILED=$((FAILED + 1))
    FAILED_NAMES+=("$CASE")
    log "FAIL $CASE ($((SECONDS - t0)) s; logs in $CDIR)"
    local p
    for p in "${PROBLEMS[@]}"; do log "     - $p"; done
  fi
}

any=0
for c in "${CASES[@]}"; do
  IFS='|' read -r name _ <<<"$c"
  selected "$name" "$@" || continue
  any=1
  fn="${c##*|}"
  fam="${c#*|}"
  fam="${fam%|*}"
  run_case "$name" "$fam" "$fn"
done
[ $any = 1 ] || setup_fail "no case matches: $*"

log "total $((SECONDS - START_TIME)) s"
if [ -z "${CONFORMANCE_WORK:-}" ] && [ "${CONFORMANCE_KEEP:-0}" != 1 ]; then
  if [ $FAILED = 0 ]; then
    rm -rf "$WORK"
  else
    rm -rf "$PRISTINE"   # keep the logs, not the 700 MB prefix
  fi
fi
log "$PASSED passed, $FAILED failed"
[ $FAILED = 0 ]
