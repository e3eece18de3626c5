// The Backend contract: what every OS poller (epoll, kqueue, IOCP) provides, nothing more.
// It is Go's netpollinit / netpollopen / netpollclose / netpoll / netpollBreak in C++, checked
// at compile time (every backend static_asserts it; there is no virtual dispatch). The one
// place the contract is written, for both models a backend can follow.
//
// Readiness (Backend: epoll, kqueue). The kernel says a descriptor became readable or
// writable; the layer above makes the call.
//   - Registration is edge-triggered, for read and write at once, for the descriptor's whole
//     life; it is never modified afterwards (modifying drops EPOLLET on some kernels, and costs
//     a syscall per operation: docs/pitfalls.md 10, 11).
//   - After an event, a consumer must read/write until the call would block before it may
//     expect another event for that direction (or until the kernel itself said nothing is
//     left, e.g. Linux's TCP_INQ; a short read is not that: reads stop at TCP urgent marks,
//     AF_UNIX descriptor messages, record boundaries, see ReadOp in
//     netpoll/net/internal/fd_posix.h). Events may be spurious: a consumer always tolerates
//     EAGAIN after an event.
//   - Event::result is 0.
//
// Completion (CompletionBackend, a refinement: IOCP; io_uring would be another). The layer
// above starts the call itself, overlapped, and the kernel reports when it finished.
//   - No event comes for a descriptor before an overlapped call was made on it: there is no
//     readiness. Each call is made through the backend's operation_type (one per direction
//     per descriptor, in the caller's memory): begin() tags it with the descriptor's token
//     and the direction, and the call's completion is reported as one Event for that
//     direction, Event::result = bytes transferred; the call's own status is read with
//     operation_type::result().
//   - An operation and every buffer the kernel writes stay in place until its completion was
//     dequeued by wait(), also after a cancel (docs/testing.md case 24): the completion of a
//     cancelled call still comes, with an aborted status.
//   - register_handle associates the descriptor with the kernel object; deregister_handle
//     cannot undo that (a completion port cannot forget a handle): it only counts, and
//     completions still queued for the descriptor are dropped by the core's token check.
//   - Whether a call that succeeds at once also queues a completion is the descriptor's mode
//     (skip_completion_on_success), which the layer above sets only where
//     completion_skipping_safe() says so; the layer above knows which it asked for.
//
// Both: wait() is called by one thread at a time; every other member is thread-safe.
#pragma once

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

// A completion backend: a Backend whose events are completions of calls made through its
// operation_type (the model above). The Windows FD (netpoll/net/internal/fd_windows.h) is
// written against this concept and the selected netpoll::Poller, never a backend by name.
template <class B>
concept CompletionBackend =
    Backend<B> && requires(typename B::operation_type& op, typename B::handle_type h, Token t,
                           std::uint32_t direction) {
  // One call in flight per direction; not movable (the kernel holds its address).
  typename B::operation_type;
  // Before each call: resets the operation and tags it for `t` and `direction`
  // (Event::kReadable or Event::kWritable); returns what the OS call takes (an OVERLAPPED*).
  { op.begin(t, direction) } noexcept;
  // After its completion was dequeued, or the call succeeded at once on a skipping
  // descriptor: .bytes transferred and .error, the OS error code (0 on success).
  { op.result(h).bytes };
  { op.result(h).error };
  // Whether descriptors may skip the completion of calls that succeed at once (process-wide).
  { B::completion_skipping_safe() } noexcept -> std::same_as<bool>;
  // Puts a descriptor in that mode. Errors: the OS error.
  { B::skip_completion_on_success(h) } noexcept -> std::same_as<std::error_code>;
};

}  // namespace netpoll
