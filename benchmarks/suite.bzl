"""suite_benchmark: one suite binary (docs/benchmarks.md B1-B9) and its --smoke cc_test twin."""

load("//:copts.bzl", "NETPOLL_COPTS")

def suite_benchmark(name, srcs, deps, smoke_args = [], smoke_size = "small", **kwargs):
    """The optimized-run binary `name` (tools/bench) and `name_smoke`, a cc_test that runs the
    same source with --smoke: tiny sizes, one repetition, asserting only that every workload
    completed correctly (never a time), so each tools/test run keeps the benchmark working.

    Args:
      name: the binary's name; the test is name + "_smoke".
      srcs: sources of both.
      deps: dependencies of both.
      smoke_args: arguments after --smoke.
      smoke_size: the test's size.
      **kwargs: passed to both (tags, ...).
    """
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        copts = NETPOLL_COPTS,
        target_compatible_with = ["@platforms//os:linux"],
        deps = deps,
        **kwargs
    )
    native.cc_test(
        name = name + "_smoke",
        size = smoke_size,
        srcs = srcs,
        args = ["--smoke"] + smoke_args,
        copts = NETPOLL_COPTS,
        target_compatible_with = ["@platforms//os:linux"],
        deps = deps,
        **kwargs
    )
