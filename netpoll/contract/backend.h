// The Backend contract: what every OS poller (epoll, kqueue, IOCP) provides, nothing more.
// It is Go's netpollinit / netpollopen / netpollclose / netpoll / netpollBreak in C++, checked
// at compile time (every backend static_asserts it; there is no virtual dispatch).
//
// User contract (the one place it is written):
//   - Registration is edge-triggered, for read and write at once, for the descriptor's whole
//     life; it is never modified afterwards (modifying drops EPOLLET on some kernels, and costs
//     a syscall per operation: docs/pitfalls.md 10, 11).
//   - After an event, a consumer must read/write until the call would block before it may
//     expect another event for that direction (or until the kernel itself said nothing is
//     left, e.g. Linux's TCP_INQ; a short read is not that: reads stop at TCP urgent marks,
//     AF_UNIX descriptor messages, record boundaries, see ReadOp in netpoll/net/internal/fd_posix.h). Events
//     may be spurious: a consumer always tolerates EAGAIN after an event.
//   - wait() is called by one thread at a time; every other member is thread-safe.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>

#include "netpoll/contract/event.h"
#include "netpoll/contract/result.h"
#include "netpoll/contract/timeout.h"

namespace netpoll {

// Counters a backend keeps about its own syscalls, so benchmarks can report syscalls per
// operation without strace and tests can prove wake coalescing.
struct PollerStats {
  std::uint64_t waits = 0;            // wait syscalls (epoll_wait / kevent / GQCSEx)
  std::uint64_t wake_signals = 0;     // syscalls made by wake() (coalesced ones make none)
  std::uint64_t wakeups = 0;          // wake notifications a wait consumed (no syscall)
  std::uint64_t wake_drains = 0;      // syscalls spent resetting the wake mechanism
  std::uint64_t registrations = 0;    // successful register_handle calls
  std::uint64_t deregistrations = 0;  // successful deregister_handle calls
};

template <class B>
concept Backend = requires(B& b, const B& cb, typename B::handle_type h, Token t,
                           std::span<Event> out, Timeout timeout) {
  typename B::handle_type;         // int on POSIX, SOCKET on Windows
  typename B::native_handle_type;  // the kernel object: epoll fd, kqueue fd, IOCP port
  // "epoll", "kqueue", "iocp": tests print it so a log shows which backend ran.
  { B::kName } -> std::convertible_to<std::string_view>;
  // Once per descriptor; token must not be Token::kReserved. Errors: Errc::already_registered,
  // Errc::not_pollable, Errc::invalid_argument, or the OS errno (EBADF, ENOMEM, ...).
  { b.register_handle(h, t) } noexcept -> std::same_as<std::error_code>;
  // Before the descriptor is closed (a dup'd or forked copy would keep reporting otherwise).
  // Errors: Errc::not_registered, or the OS errno.
  { b.deregister_handle(h) } noexcept -> std::same_as<std::error_code>;
  // Fills `out` with up to out.size() events; blocks at most `timeout` (never returns early
  // because of rounding), returns 0 events on timeout, on wake() and when interrupted (EINTR),
  // so the caller recomputes. Errc::invalid_argument for an empty span.
  { b.wait(out, timeout) } noexcept -> std::same_as<Result<std::size_t>>;
  // From any thread: the current or next wait returns. Coalesced: while one wake is pending,
  // further calls make no syscall. Publication: what the caller stored with memory_order_seq_cst
  // before wake() is seen by a seq_cst load the waiting thread makes after wait() returns (a
  // coalesced wake is a Dekker pair with the wake's consumption, not a release/acquire edge).
  { b.wake() } noexcept -> std::same_as<void>;
  // Pollable where the OS allows (epoll/kqueue fd), so a host loop can nest this poller.
  { cb.native_handle() } noexcept -> std::same_as<typename B::native_handle_type>;
  { cb.stats() } noexcept -> std::same_as<PollerStats>;
};

// A counter with one writer (the waiting thread) and any number of readers: a relaxed
// load+store compiles to a plain add, unlike fetch_add's locked instruction, so it can sit on
// the wait path.
class SingleWriterCounter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// The counters behind PollerStats, kept the same way by every backend.
struct PollerCounters {
  SingleWriterCounter waits;    // the waiting thread only
  SingleWriterCounter wakeups;  // the waiting thread only
  std::atomic<std::uint64_t> wake_signals{0};  // from any thread
  std::atomic<std::uint64_t> wake_drains{0};
  std::atomic<std::uint64_t> registrations{0};
  std::atomic<std::uint64_t> deregistrations{0};

  static void bump(std::atomic<std::uint64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
  PollerStats snapshot() const noexcept {
    PollerStats s;
    s.waits = waits.get();
    s.wakeups = wakeups.get();
    s.wake_signals = wake_signals.load(std::memory_order_relaxed);
    s.wake_drains = wake_drains.load(std::memory_order_relaxed);
    s.registrations = registrations.load(std::memory_order_relaxed);
    s.deregistrations = deregistrations.load(std::memory_order_relaxed);
    return s;
  }
};

}  // namespace netpoll
