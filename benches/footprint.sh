#!/usr/bin/env bash
# Footprint of ens-upload: stripped size of the statically linked C example
# (release and the min-size profile), the normal dependency tree's crate
# count, and the peak RSS of one CLI call against a local emulator.
#
#   bash benches/footprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'kill $emu_pid 2>/dev/null || true; rm -rf "$out"' EXIT
emu_pid=

# The system libraries a static libens_upload.a needs, as rustc reports them.
native_libs() {
  local profile=$1; shift
  cargo rustc --quiet --profile "$profile" --lib --crate-type staticlib "$@" -- --print native-static-libs 2>&1 \
    | sed -n 's/.*native-static-libs: //p' | tail -1
}

# Links the C example against the static library built with a profile (and
# extra cargo flags), with --gc-sections as the README's link line has it.
size_of_c_example() {
  local profile=$1 dir=$2; shift 2
  # The static library as `make staticlib` builds it (native_libs builds
  # the same one).
  local libs
  libs=$(native_libs "$profile" "$@")
  cargo rustc --quiet --profile "$profile" --lib --crate-type staticlib "$@"
  cc -O2 -Iinclude examples/c/prepare_upload.c "target/$dir/libens_upload.a" $libs \
    -Wl,--gc-sections -o "$out/prepare_upload-$profile"
  strip "$out/prepare_upload-$profile"
  stat -c %s "$out/prepare_upload-$profile"
}

release=$(size_of_c_example release release)
minsize=$(size_of_c_example min-size min-size)
# The same profile built as a static library only (rustc can then
# internalize everything the C API does not export).
cargo rustc --quiet --profile min-size --lib --crate-type staticlib
libs=$(native_libs min-size)
cargo rustc --quiet --profile min-size --lib --crate-type staticlib
cc -O2 -Iinclude examples/c/prepare_upload.c target/min-size/libens_upload.a $libs -Wl,--gc-sections \
  -o "$out/prepare_upload-staticonly"
strip "$out/prepare_upload-staticonly"
minsize_static_only=$(stat -c %s "$out/prepare_upload-staticonly")
minsize_native=$(size_of_c_example min-size min-size --no-default-features --features native-tls)
# Back to the default features for what follows.
cargo rustc --quiet --profile min-size --lib --crate-type staticlib
crates=$(cargo tree -e normal --prefix none | awk '{print $1}' | sort -u | grep -vx ens-upload | wc -l)

# Peak RSS of one CLI call (the Rust example), against an emulator in
# another process so only the client is measured.
cargo build --quiet --release --features emulator --example emulator --example prepare_upload
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/examples/emulator --port "$port" >/dev/null &
emu_pid=$!
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
# A tiny C runner reports the child's ru_maxrss from wait4; a runner with a
# big heap of its own (python) would be counted, as fork copies it.
cat > "$out/maxrss.c" <<'C'
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv) {
    pid_t pid = fork();
    if (pid == 0) { execv(argv[1], argv + 1); _exit(127); }
    int status; struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
    printf("%ld\n", ru.ru_maxrss);
    return 0;
}
C
cc -O2 "$out/maxrss.c" -o "$out/maxrss"
rss_kb=$(ALIBABA_CLOUD_ACCESS_KEY_ID=LTAIEmulatorTestKeyId ALIBABA_CLOUD_ACCESS_KEY_SECRET=EmulatorTestSecret \
  "$out/maxrss" target/release/examples/prepare_upload --endpoint "http://127.0.0.1:$port" --bucket test 2>/dev/null \
  | tail -1)

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1000000 }'; }
echo "footprint ($(uname -m), $(nproc) cores, rustc $(rustc --version | cut -d' ' -f2))"
echo "  C example, static libens_upload.a, stripped, release:  $release bytes ($(mb "$release"))   target <= 2.5 MB"
echo "  C example, static libens_upload.a, stripped, min-size: $minsize bytes ($(mb "$minsize"))   target <= 1.5 MB"
echo "  min-size built with --crate-type staticlib only:     $minsize_static_only bytes ($(mb "$minsize_static_only"))"
echo "  the same with native-tls (system OpenSSL, linked dynamically): $minsize_native bytes ($(mb "$minsize_native"))"
echo "  normal dependency tree: $crates distinct crates besides ens-upload   target <= 45"
echo "  peak RSS of one CLI call: $rss_kb KiB ($(awk -v k="$rss_kb" 'BEGIN { printf "%.2f MB", k * 1024 / 1000000 }'))   target <= 6 MB"
