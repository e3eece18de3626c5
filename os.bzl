"""OS constraints shared by the BUILD files (the only OS switches outside the backends)."""

# For targets written against POSIX sockets and headers: skipped (reported SKIPPED) in the
# Windows build instead of failing to compile. The Windows counterparts sit beside them.
POSIX_ONLY = select({
    "//:windows": ["@platforms//:incompatible"],
    "//conditions:default": [],
})

# For tests of the io_uring build only (--config=uring: netpoll/platform/BUILD :uring);
# skipped (reported SKIPPED) in every other build.
URING_BUILD_ONLY = select({
    "//netpoll/platform:uring": [],
    "//conditions:default": ["@platforms//:incompatible"],
})
