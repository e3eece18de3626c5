"""OS constraints shared by the BUILD files (the only OS switches outside the backends)."""

# For targets written against POSIX sockets and headers: skipped (reported SKIPPED) in the
# Windows build instead of failing to compile. The Windows counterparts sit beside them.
POSIX_ONLY = select({
    "//:windows": ["@platforms//:incompatible"],
    "//conditions:default": [],
})
