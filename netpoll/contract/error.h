// netpoll's own error codes (std::error_code, category "netpoll").
//
// Three tiers (docs/style.md): per-descriptor operations return std::error_code — either these or
// the OS errno in std::generic_category / std::system_category; impossible failures of the
// poller's own kernel object are fatal (fatal_syscall names the call); benign errnos are
// ignored by name where they happen, with the reason.
#pragma once

#include <string_view>
#include <system_error>
#include <type_traits>

namespace netpoll {

enum class Errc {
  ok = 0,
  invalid_argument = 1,    // bad handle value, reserved token, empty buffer/span, bad mode
  not_pollable = 2,        // the kernel refuses to poll this descriptor (e.g. a regular file)
  already_registered = 3,  // register() twice for one descriptor
  not_registered = 4,      // deregister() of a descriptor this poller does not know
  closed = 5,              // use of a closed descriptor / connection
  deadline_exceeded = 6,   // the read or write deadline passed (i/o timeout)
  event_error = 7,         // the poller reported an error condition; the next syscall tells which
  too_many_descriptors = 8,  // the descriptor cache is full
  // A blocking call (Operation::wait, Task::wait, Dial(...).wait()) on the thread that runs
  // the Loop it would wait for, or that last stepped it (an embedding host between two
  // run_once calls): parking it would stop the only poller that could wake it.
  would_deadlock = 9,
  // The Loop is being stepped by another thread (run / run_once / block_on / shutdown): one
  // thread at a time steps a Loop.
  loop_busy = 10,
};

const std::error_category& netpoll_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), netpoll_category()};
}

// An errno value as a portable error_code (generic_category compares equal to std::errc).
inline std::error_code errno_code(int err) noexcept { return {err, std::generic_category()}; }

// Aborts the process, naming the syscall and errno. For failures that mean the poller's own
// kernel object or memory is corrupt: continuing would lose events silently.
[[noreturn]] void fatal_syscall(std::string_view call, int err) noexcept;
[[noreturn]] void fatal(std::string_view what) noexcept;

}  // namespace netpoll

template <>
struct std::is_error_code_enum<netpoll::Errc> : std::true_type {};
