#!/usr/bin/env bash
# C ABI: Rust unit tests, header drift check, C tests (static, dynamic, and
# AddressSanitizer), cross-language round trips with the Rust peer, the C
# examples, and install + pkg-config. Run from anywhere; exits non-zero on
# any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need() { # need COMMAND PACKAGE: apt-get the package if the command is missing
    command -v "$1" >/dev/null && return
    local sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
    if [[ -z ${apt_updated:-} ]]; then $sudo apt-get update -qq; apt_updated=1; fi
    $sudo apt-get install -y -qq "$2" >/dev/null
}
need pkg-config pkg-config
need make make
need cc gcc
need c++ g++

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { echo "--- ffi: $*"; }

step "build libfaasin and the Rust peer; Rust unit tests; lints"
cargo build --release -q -p faasin-ffi -p faasin-ffi-header
cargo build --release -q -p faasin --example peer
cargo test --release -q -p faasin-ffi
cargo clippy -q -p faasin-ffi -p faasin-ffi-header --all-targets -- -D warnings
lib=$root/target/release
peer=$lib/examples/peer
[[ -f $lib/libfaasin.so && -f $lib/libfaasin.a ]]

step "include/faasin.h is what cbindgen generates"
cargo run --release -q -p faasin-ffi-header -- "$tmp/faasin.h" 2>/dev/null
if ! cmp -s include/faasin.h "$tmp/faasin.h"; then
    diff -u include/faasin.h "$tmp/faasin.h" || true
    echo "include/faasin.h is out of date: run cargo run -p faasin-ffi-header and commit it" >&2
    exit 1
fi

step "libfaasin.so exports exactly the functions the header declares"
nm -D --defined-only "$lib/libfaasin.so" | awk '$2 == "T" { print $3 }' | sort >"$tmp/exported"
grep -oE '\bfaasin_[a-z_]+\(' include/faasin.h | tr -d '(' | sort -u >"$tmp/declared"
diff "$tmp/exported" "$tmp/declared"
[[ $(wc -l <"$tmp/declared") -ge 25 ]]

step "the header compiles as C99 (pedantic) and links as C++"
cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c include/faasin.h
printf '#include "faasin.h"\nint main() { return faasin_reader_close(faasin_input()); }\n' >"$tmp/cxx.cpp"
c++ -std=c++11 -Wall -Wextra -Werror -Iinclude "$tmp/cxx.cpp" -o "$tmp/cxx" -L"$lib" -lfaasin

step "compile the C tests: static, dynamic, AddressSanitizer"
cflags=(-std=c11 -g -Wall -Wextra -Werror -Iinclude -Iffi/tests/c)
syslibs=(-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc)
for t in test_api test_roundtrip c_peer; do
    srcs=(ffi/tests/c/$t.c)
    [[ $t == test_api ]] || srcs+=(ffi/tests/c/sha256.c)
    cc "${cflags[@]}" -O2 "${srcs[@]}" -o "$tmp/$t.static" "$lib/libfaasin.a" "${syslibs[@]}"
    cc "${cflags[@]}" -O2 "${srcs[@]}" -o "$tmp/$t.dynamic" -L"$lib" -Wl,-rpath,"$lib" -lfaasin
    [[ $t == c_peer ]] && continue # the peers run static and dynamic only
    cc "${cflags[@]}" -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
        -fno-omit-frame-pointer "${srcs[@]}" -o "$tmp/$t.asan" "$lib/libfaasin.a" "${syslibs[@]}"
done
# The link kinds are what they claim to be.
ldd "$tmp/test_api.dynamic" | grep "libfaasin.so => $lib/libfaasin.so" >/dev/null
if ldd "$tmp/test_api.static" | grep libfaasin >/dev/null || nm -D "$tmp/test_api.static" | grep faasin_ >/dev/null; then
    echo "the static test binary depends on libfaasin.so" >&2
    exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1
for kind in static dynamic asan; do
    step "C API tests ($kind)"
    timeout 120 "$tmp/test_api.$kind"
done

for kind in static dynamic asan; do
    mib=256
    [[ $kind == asan ]] && mib=32 # ASan costs 4x; the same code ran at 256 MiB above
    step "two-process round trip, $mib MiB ($kind)"
    timeout 300 "$tmp/test_roundtrip.$kind" $mib
done

step "examples/c: build and run producer -> consumer"
make -s -C examples/c clean
make -s -C examples/c
records=100000
out=$(timeout 60 examples/c/chain examples/c/producer $records -- examples/c/passthrough -- examples/c/consumer)
echo "$out"
expected_sum=$(python3 -c "print(sum(i * 3 % 1000 for i in range($records)))")
prod=$(grep '"records": [0-9]*, "bytes"' <<<"$out" | grep -v sum)
cons=$(grep '"sum"' <<<"$out")
prod_bytes=$(sed -n 's/.*"bytes": \([0-9]*\).*/\1/p' <<<"$prod")
[[ $cons == "{\"records\": $records, \"bytes\": $prod_bytes, \"sum\": $expected_sum}" ]]
grep -qx "{\"bytes\": $prod_bytes}" <<<"$out" # the middle stage saw every byte
# The C example in ffi/README.md is examples/c/passthrough.c, so it is compiled and run.
sed -n '/^```c$/,/^```$/p' ffi/README.md | sed '1d;$d' | cmp - examples/c/passthrough.c
# The same functions through a plain file (the fallback): FAASOUT_FD / FAASIN_FD.
FAASOUT_FD=5 examples/c/producer 1000 5>"$tmp/records.txt" >/dev/null
[[ $(wc -l <"$tmp/records.txt") == 1000 ]]
out=$(FAASIN_FD=0 examples/c/consumer <"$tmp/records.txt")
[[ $out == "{\"records\": 1000, \"bytes\": $(wc -c <"$tmp/records.txt"), \"sum\": 499500}" ]]
# Without a stream, a function fails with a clear message, not a crash.
if examples/c/consumer 2>"$tmp/err" </dev/null; then exit 1; fi
grep -q "FAASIN_FD" "$tmp/err"

step "cross-language: C writer -> Rust reader, Rust writer -> C reader (SHA-256)"
chain=examples/c/chain
bytes=$((64 << 20)) # 64 MiB, with a chunk size that is not a multiple of 8
c_to_rust=$(timeout 120 $chain "$tmp/c_peer.dynamic" write $bytes 11 65533 -- "$peer" read)
rust_to_c=$(timeout 120 $chain "$peer" write $bytes 11 65533 -- "$tmp/c_peer.static" read)
echo "$c_to_rust"
echo "$rust_to_c"
# Both sides of each stream printed "BYTES SHA256": all four lines must agree,
# because the C peer generates the same bytes as the Rust peer for one seed.
[[ $(wc -l <<<"$c_to_rust") == 2 && $(wc -l <<<"$rust_to_c") == 2 ]]
[[ $(printf '%s\n%s\n' "$c_to_rust" "$rust_to_c" | sort -u | wc -l) == 1 ]]
[[ $c_to_rust == "$bytes "* ]]
# And the C SHA-256 agrees with sha256sum on the bytes themselves.
FAASOUT_FD=5 "$tmp/c_peer.dynamic" write 1000003 5 4096 5>"$tmp/bytes" >"$tmp/c_line"
[[ $(cat "$tmp/c_line") == "1000003 $(sha256sum <"$tmp/bytes" | cut -d' ' -f1)" ]]

step "install into a temporary prefix; build the examples with pkg-config"
prefix=$tmp/prefix
ffi/install.sh "$prefix" >/dev/null
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[[ $(pkg-config --modversion faasin) == "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ]]
cmp include/faasin.h "$prefix/include/faasin.h"
for p in producer consumer chain; do
    # shellcheck disable=SC2046 # pkg-config output is meant to split
    cc -O2 examples/c/$p.c -o "$tmp/pc-$p" $(pkg-config --cflags --libs faasin)
done
ldd "$tmp/pc-consumer" | grep "libfaasin.so => not found" >/dev/null # not on the default path...
out=$(LD_LIBRARY_PATH=$prefix/lib timeout 60 "$tmp/pc-chain" "$tmp/pc-producer" 5000 -- "$tmp/pc-consumer")
grep -q '"records": 5000, "bytes": [0-9]*, "sum": 2497500' <<<"$out" # ...but found here
# A static link through pkg-config --static.
# shellcheck disable=SC2046
cc -O2 examples/c/consumer.c -o "$tmp/pc-consumer-static" $(pkg-config --cflags faasin) \
    "$prefix/lib/libfaasin.a" $(pkg-config --static --libs-only-l faasin | sed 's/-lfaasin//')
out=$(FAASIN_FD=0 "$tmp/pc-consumer-static" <"$tmp/records.txt")
[[ $out == *'"sum": 499500}' ]]

make -s -C examples/c clean
step "all passed"
