"""WORKSPACE macros: the external repositories netpoll needs, all offline (Debian packages).

A consumer's WORKSPACE:

    local_repository(name = "netpoll", path = "/path/to/netpoll")
    load("@netpoll//:deps.bzl", "netpoll_dependencies")
    netpoll_dependencies()

netpoll_dependencies() is all `bazel build @netpoll//:netpoll` (or :runtime, :core, :poller)
and a consumer's own cc_binary / cc_test need. netpoll's own tests and benchmarks also need
netpoll_test_dependencies() (doctest, and the adapters' host libraries); nothing the public
targets depend on does. A program using an adapter (netpoll/adapters/) also calls
netpoll_adapter_dependencies() (libuv, GLib, Asio).
Each repository is declared only if the WORKSPACE has not declared it already, so a consumer
that brings its own rules_cc, platforms, ... keeps them (declare them before the call).

Debian packages: bazel-bootstrap (Bazel 4.2.3) bazel-rules-cc bazel-rules-java bazel-platforms;
for the io_uring backend liburing-dev; for the test and adapter dependencies also doctest-dev
libuv1-dev libglib2.0-dev libasio-dev.
"""

load("//third_party:coverage_stub.bzl", "coverage_stub")
load("//third_party:debian_rules_cc.bzl", "debian_rules_cc")

def _maybe(repo_rule, name, **kwargs):
    if not native.existing_rule(name):
        repo_rule(name = name, **kwargs)

def netpoll_dependencies():
    """The repositories the library targets (and any cc_test beside them) need offline."""

    # Debian's rules_cc 0.0.4 does not load on Bazel 4.2.3 as shipped; this copies and patches it.
    _maybe(debian_rules_cc, "rules_cc")
    _maybe(native.local_repository, "platforms", path = "/usr/share/bazel/tools/platforms")

    # cc_test toolchain resolution reads @bazel_tools//tools/jdk:all, which needs rules_java;
    # without a local copy Bazel tries to download it.
    _maybe(native.local_repository, "rules_java", path = "/usr/share/bazel/rules/java")

    # cc_test's implicit coverage attributes; without the stub Bazel downloads the real tools.
    _maybe(coverage_stub, "remote_coverage_tools")

    # liburing (Debian liburing-dev): the io_uring backend (netpoll/backends/uring), built only
    # with --config=uring (and by the benchmarks' raw io_uring and Asio io_uring servers).
    _maybe(
        native.new_local_repository,
        "system_liburing",
        path = "/usr/include",
        build_file_content = """
cc_library(
    name = "uring",
    hdrs = glob(["liburing.h", "liburing/*.h"]),
    includes = ["."],
    linkopts = ["-luring"],
    target_compatible_with = """ + _HOST_ONLY + """,
    visibility = ["//visibility:public"],
)
""",
    )

def netpoll_test_dependencies():
    """What only netpoll's own tests and benchmarks need (never a library target)."""
    _maybe(
        native.new_local_repository,
        "doctest",
        path = "/usr/include/doctest",
        build_file_content = """
cc_library(
    name = "doctest",
    hdrs = ["doctest.h"],
    include_prefix = "doctest",
    visibility = ["//visibility:public"],
)
""",
    )
    netpoll_adapter_dependencies()

# The host libraries are Debian's, built for its glibc: a cross build (the Zig toolchains,
# toolchain/zig/) cannot use them. Their targets are incompatible there, and so is everything
# that depends on them. The label is spelled with this repository's own name (whatever the
# consumer calls it; "@" alone when it is the main repository), as the BUILD text below is
# another repository's.
_CROSS = "@" + Label("//toolchain/zig:cross").workspace_name + "//toolchain/zig:cross"
_HOST_ONLY = "select({\"%s\": [\"@platforms//:incompatible\"], \"//conditions:default\": []})" % _CROSS

def netpoll_adapter_dependencies():
    """The host libraries of netpoll/adapters/ (libuv, GLib, Asio): needed only by a program that
    uses an adapter (@netpoll//netpoll/adapters:uv, :glib, :asio), and by netpoll's own tests."""

    # libuv: the libuv adapter and benchmarks/.
    _maybe(
        native.new_local_repository,
        "system_libuv",
        path = "/usr/include",
        build_file_content = """
cc_library(
    name = "uv",
    hdrs = glob(["uv.h", "uv/*.h"]),
    includes = ["."],
    linkopts = ["-luv"],
    target_compatible_with = """ + _HOST_ONLY + """,
    visibility = ["//visibility:public"],
)
""",
    )

    # GLib (Debian libglib2.0-dev): the GLib adapter. glibconfig.h lives under the multiarch
    # library directory, hence the two include directories.
    _maybe(
        native.new_local_repository,
        "system_glib",
        path = "/usr",
        build_file_content = """
cc_library(
    name = "glib",
    hdrs = glob([
        "include/glib-2.0/**/*.h",
        "lib/x86_64-linux-gnu/glib-2.0/include/*.h",
    ]),
    includes = [
        "include/glib-2.0",
        "lib/x86_64-linux-gnu/glib-2.0/include",
    ],
    linkopts = ["-lglib-2.0"],
    target_compatible_with = """ + _HOST_ONLY + """,
    visibility = ["//visibility:public"],
)
""",
    )

    # Standalone Asio (Debian libasio-dev, header-only): the Asio adapter.
    _maybe(
        native.new_local_repository,
        "system_asio",
        path = "/usr/include",
        build_file_content = """
cc_library(
    name = "asio",
    hdrs = glob(["asio.hpp", "asio/**/*.hpp", "asio/**/*.ipp"]),
    includes = ["."],
    linkopts = ["-pthread"],
    target_compatible_with = """ + _HOST_ONLY + """,
    visibility = ["//visibility:public"],
)
""",
    )
