#!/usr/bin/env bash
# Debian trixie's skopeo 1.18 for the tests that need containers/image's sigstore policy: Debian bookworm's skopeo 1.9.3
# is built with sigstore signing and verification patched out ("Debian-local change: sigstore disabled"). The .debs are
# downloaded from the Debian archive and unpacked with dpkg-deb -x into one root (nothing is installed); skopeo runs
# through trixie's own loader and libraries (test/support/trixie-skopeo.ts), so the machine's glibc does not matter.
#
# Usage: fetch-trixie-skopeo.sh DEST_DIR   (any user; idempotent; DEBIAN_MIRROR overrides http://deb.debian.org/debian)
#
# Every .deb is checked against a pinned sha256 before it is unpacked. Debian point releases remove superseded files
# from the pool (libc6 and sqlite3 get security updates), so when a pinned file is gone (404) the script takes the
# package's current path and sha256 from trixie's Packages.xz, whose sha256 it takes from the InRelease file after gpgv
# has checked InRelease against the machine's Debian archive keyring: the chain apt itself trusts. It says which
# package to re-pin. A pinned file that downloads with another sha256 is never replaced: that is an error.
set -euo pipefail

dest="${1:?usage: fetch-trixie-skopeo.sh DEST_DIR}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=trixie
arch=amd64
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# package <TAB> pool path <TAB> sha256 (trixie, amd64; from dists/trixie/main/binary-amd64/Packages.xz)
PINS="skopeo	pool/main/s/skopeo/skopeo_1.18.0+ds1-1+b5_amd64.deb	7ca44a3f31f3cddca9d9dc858029dd08c30faf6e93456753825509e6a59192e2
libc6	pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb	b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf
libgpgme11t64	pool/main/g/gpgme1.0/libgpgme11t64_1.24.2-3_amd64.deb	6650203af59ccf73b22cd6904fb179a799cb70d62885b19ae725c0655c04241c
libassuan9	pool/main/liba/libassuan/libassuan9_3.0.2-2_amd64.deb	9d78ef8f016e7f24b5e20d1ce91939fe0f1f897e5f9059793201e930ded7eb8e
libgpg-error0	pool/main/libg/libgpg-error/libgpg-error0_1.51-4_amd64.deb	22b95570fd41c113ef6f5651563b4d748292844baab1278a46eb940c1dec2322
libsqlite3-0	pool/main/s/sqlite3/libsqlite3-0_3.46.1-7+deb13u2_amd64.deb	0a459adaffd901109f7811ab65f58e7a957b4907d05539cf3d1184efdcde0468"

# Done before with these pins: nothing to do (a root from other pins is replaced).
if [ -x "$dest/root/usr/bin/skopeo" ] && [ "$(cat "$dest/pins" 2>/dev/null)" = "$PINS" ]; then exit 0; fi

case "$(uname -m)" in
  x86_64) ;;
  *) echo "fetch-trixie-skopeo: this machine is $(uname -m); the pinned packages are for amd64" >&2; exit 1 ;;
esac

# Unpacked beside DEST's final place, so putting it there is a rename.
mkdir -p "$dest"
work="$(mktemp -d "$dest/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

command -v curl >/dev/null 2>&1 || { echo "fetch-trixie-skopeo: needs curl (apt-get install curl)" >&2; exit 1; }

# Prints the HTTP status (000 when there was no answer); the body goes to $2. Bounded: 20 s to connect, 10 min a file.
download() {
  curl -sS -L --retry 3 --connect-timeout 20 --max-time 600 -o "$2" -w '%{http_code}' "$1" || true
}

# The signed index, fetched once and only when a pinned file is gone: "package<TAB>path<TAB>sha256" lines on stdout.
index=""
signed_index() {
  if [ -z "$index" ]; then
    local status
    status="$(download "$mirror/dists/$suite/InRelease" "$work/InRelease")"
    [ "$status" = 200 ] || { echo "fetch-trixie-skopeo: $mirror/dists/$suite/InRelease: HTTP $status" >&2; exit 1; }
    gpgv --keyring "$keyring" --output "$work/Release" "$work/InRelease" 2>"$work/gpgv.log" || {
      cat "$work/gpgv.log" >&2
      echo "fetch-trixie-skopeo: InRelease of $suite does not verify against $keyring (apt-get install debian-archive-keyring)" >&2
      exit 1
    }
    local want
    want="$(awk '/^SHA256:/ {on=1; next} /^[^ ]/ {on=0} on && $3 == "main/binary-'"$arch"'/Packages.xz" {print $1}' "$work/Release")"
    [ -n "$want" ] || { echo "fetch-trixie-skopeo: the Release file lists no main/binary-$arch/Packages.xz" >&2; exit 1; }
    status="$(download "$mirror/dists/$suite/main/binary-$arch/Packages.xz" "$work/Packages.xz")"
    [ "$status" = 200 ] || { echo "fetch-trixie-skopeo: Packages.xz: HTTP $status" >&2; exit 1; }
    echo "$want  $work/Packages.xz" | sha256sum -c --quiet - >/dev/null 2>&1 || {
      echo "fetch-trixie-skopeo: Packages.xz does not have the sha256 the signed Release file gives" >&2
      exit 1
    }
    xz -dc "$work/Packages.xz" | awk '
      /^Package: / {p=$2} /^Filename: / {f=$2} /^SHA256: / {s=$2}
      /^$/ {if (p != "") print p "\t" f "\t" s; p=f=s=""}
      END {if (p != "") print p "\t" f "\t" s}' >"$work/index.tsv"
    index="$work/index.tsv"
  fi
}

used=""
while IFS=$'\t' read -r pkg path sha; do
  deb="$work/$pkg.deb"
  status="$(download "$mirror/$path" "$deb")"
  if [ "$status" = 404 ] || [ "$status" = 410 ]; then
    signed_index
    line="$(awk -F '\t' -v p="$pkg" '$1 == p {print; exit}' "$index")"
    [ -n "$line" ] || { echo "fetch-trixie-skopeo: $suite has no package $pkg any more" >&2; exit 1; }
    path="$(cut -f2 <<<"$line")"
    sha="$(cut -f3 <<<"$line")"
    echo "fetch-trixie-skopeo: the pinned $pkg is gone from the archive; using $path from the signed $suite index" \
      "(re-pin in test/support/fetch-trixie-skopeo.sh: $pkg $path $sha)" >&2
    status="$(download "$mirror/$path" "$deb")"
  fi
  [ "$status" = 200 ] || { echo "fetch-trixie-skopeo: $mirror/$path: HTTP $status" >&2; exit 1; }
  echo "$sha  $deb" | sha256sum -c --quiet - >/dev/null 2>&1 || {
    echo "fetch-trixie-skopeo: $path has sha256 $(sha256sum "$deb" | cut -d' ' -f1), expected $sha: refusing it" >&2
    exit 1
  }
  dpkg-deb -x "$deb" "$work/root"
  used+="$(basename "$path")"$'\n'
done <<<"$PINS"

[ -x "$work/root/usr/bin/skopeo" ] || { echo "fetch-trixie-skopeo: no usr/bin/skopeo in the unpacked packages" >&2; exit 1; }
# Replaced whole and the pins written last, so a half-unpacked root is never taken for a finished one.
rm -f "$dest/pins"
rm -rf "$dest/root"
mv "$work/root" "$dest/root"
printf '%s' "$used" >"$dest/packages"
printf '%s' "$PINS" >"$dest/pins"
echo "fetch-trixie-skopeo: skopeo $("$dest/root/usr/lib64/ld-linux-x86-64.so.2" --library-path \
  "$dest/root/usr/lib/x86_64-linux-gnu" "$dest/root/usr/bin/skopeo" --version | awk '{print $3}') (Debian $suite) -> $dest/root"
