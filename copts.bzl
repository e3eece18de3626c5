"""The compiler flags every netpoll target carries (library, tests, benchmarks, examples, fuzz).

They are on the targets, not in .bazelrc, because a consumer's build never reads netpoll's
.bazelrc: `bazel build @netpoll//:netpoll` from another workspace compiles with exactly these.
The toolchains netpoll supports are GCC and clang (natively and as mingw-w64), so the flags are
GCC-style. -Werror is not here: it is netpoll's own CI policy (.bazelrc), so a consumer whose
compiler warns about something new still builds the library.
"""

NETPOLL_COPTS = [
    "-std=c++20",
    "-Wall",
    "-Wextra",
]
