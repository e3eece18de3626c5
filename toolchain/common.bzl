"""What the cross toolchain configs (mingw/, zig/) share: the action groups their flags apply
to, and the opt / dbg compilation modes."""
load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")
load("@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl", "feature", "flag_group", "flag_set")

ALL_COMPILE = [
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
]
CXX_COMPILE = [ACTION_NAMES.cpp_compile, ACTION_NAMES.cpp_header_parsing, ACTION_NAMES.cpp_module_compile]
ALL_LINK = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

def compilation_mode_features():
    """-c opt and -c dbg (fastbuild adds nothing)."""
    return [
        feature(name = "opt", flag_sets = [flag_set(actions = ALL_COMPILE, flag_groups = [flag_group(flags = ["-O2", "-DNDEBUG"])])]),
        feature(name = "dbg", flag_sets = [flag_set(actions = ALL_COMPILE, flag_groups = [flag_group(flags = ["-g", "-O0"])])]),
    ]
