// Thread-safety annotations: the "guarded by" rules written so clang's -Wthread-safety checks
// them (tools/thread_safety runs that check). Each macro becomes a clang attribute when the
// compiler has it and nothing otherwise (GCC, MSVC), so they never change code generation.
#pragma once

#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(guarded_by)
#define NETPOLL_TSA_(x) __attribute__((x))
#endif
#endif
#ifndef NETPOLL_TSA_
#define NETPOLL_TSA_(x)
#endif

// A type whose objects are locks.
#define NETPOLL_CAPABILITY(name) NETPOLL_TSA_(capability(name))
// An RAII type that holds a lock from construction to destruction.
#define NETPOLL_SCOPED_CAPABILITY NETPOLL_TSA_(scoped_lockable)
// A field read or written only with lock `x` held.
#define NETPOLL_GUARDED_BY(x) NETPOLL_TSA_(guarded_by(x))
// A pointer whose pointee is accessed only with lock `x` held.
#define NETPOLL_PT_GUARDED_BY(x) NETPOLL_TSA_(pt_guarded_by(x))
// A function called only with the given locks held.
#define NETPOLL_REQUIRES(...) NETPOLL_TSA_(requires_capability(__VA_ARGS__))
// A function that takes the given locks (or `this`, when empty) and returns holding them.
#define NETPOLL_ACQUIRE(...) NETPOLL_TSA_(acquire_capability(__VA_ARGS__))
// A function that releases the given locks (or `this`).
#define NETPOLL_RELEASE(...) NETPOLL_TSA_(release_capability(__VA_ARGS__))
// A function that takes the lock when it returns `result`.
#define NETPOLL_TRY_ACQUIRE(...) NETPOLL_TSA_(try_acquire_capability(__VA_ARGS__))
// A function that must not be called with the given locks held (it takes them itself).
#define NETPOLL_EXCLUDES(...) NETPOLL_TSA_(locks_excluded(__VA_ARGS__))
// Turns the analysis off for one function; every use says why the rule cannot be expressed.
#define NETPOLL_NO_THREAD_SAFETY_ANALYSIS NETPOLL_TSA_(no_thread_safety_analysis)
