// Event: one readiness (epoll, kqueue) or completion (IOCP) report from Backend::wait.
#pragma once

#include <cstdint>

namespace netpoll {

// The 64-bit value a descriptor is registered with and that every event for it carries back.
// The core packs a slot index and a sequence number into it (see netpoll/core/poll_cache.h); a plain
// Poller user may store anything except Token::kReserved, which backends keep for their wake
// mechanism.
struct Token {
  std::uint64_t value = 0;
  static constexpr std::uint64_t kReserved = ~std::uint64_t{0};
  friend constexpr bool operator==(Token, Token) = default;
};

struct Event {
  // Flag bits. Edge-triggered: an event reports a transition, not a level; consumers must read
  // or write until the call would block before expecting another event for that direction
  // (a short read does not mean that: see the contract in netpoll/contract/backend.h).
  enum : std::uint32_t {
    kReadable = 1u << 0,    // data (or a pending accept / connect result) to read
    kWritable = 1u << 1,    // send buffer has room / connect finished
    kReadHangup = 1u << 2,  // peer shut down its write side (EPOLLRDHUP, EV_EOF on read)
    kHangup = 1u << 3,      // both directions are closed (EPOLLHUP, EV_EOF on write)
    kError = 1u << 4,       // pending socket error (EPOLLERR, EV_ERROR); read SO_ERROR
  };

  Token token;
  std::uint32_t flags = 0;
  // Backend-specific payload: 0 on readiness backends; on completion backends (IOCP) the bytes
  // transferred, or the OS error code when kError is set.
  std::uint32_t result = 0;

  constexpr bool has(std::uint32_t f) const noexcept { return (flags & f) != 0; }
  // Which direction a waiter should be woken for. Hangup and error wake both sides so each
  // learns the outcome from its own next syscall (as Go's netpoll does).
  constexpr bool wakes_reader() const noexcept {
    return has(kReadable | kReadHangup | kHangup | kError);
  }
  constexpr bool wakes_writer() const noexcept { return has(kWritable | kHangup | kError); }
};

static_assert(sizeof(Event) == 16, "Event is copied per readiness report; keep it small");

}  // namespace netpoll
