// FdMutex: Go's internal/poll fdMutex — a reference count, a read lock, a write lock and a
// "closed" bit in one 64-bit word — with semaphores that park any netpoll::Waiter, so the
// same mutex serves a blocked thread (ThreadWaiter) and a suspended coroutine (LoopTask).
//
//   bit 0        closed
//   bit 1        read lock held
//   bit 2        write lock held
//   bits 3-22    references (every operation in flight holds one; a lock holder too)
//   bits 23-42   read-lock waiters
//   bits 43-62   write-lock waiters
//
// Reads are serialized with reads and writes with writes; a read and a write run at once.
// incref_and_close() marks the mutex closed and wakes every lock waiter, which then sees
// `closed`. Whoever drops the last reference of a closed mutex (decref / rwunlock return true)
// must destroy the descriptor: that is how "freed only after the last in-flight operation
// drops its reference" is kept.
//
// Every lock caller already holds a reference (incref), for as long as it may touch the
// mutex: while it is queued too. A queued waiter that held none could be woken by a close,
// lose a race with the last decref, and step on freed memory (Go needs no such rule: its GC
// keeps the FD alive for every goroutine that can still reach it).
#pragma once

#include <atomic>
#include <cstdint>

#include "netpoll/core/mutex.h"
#include "netpoll/core/waiter.h"

namespace netpoll::net {

class FdMutex {
 public:
  enum class Lock : std::uint8_t { acquired, closed, queued };

  // A reference for an operation that takes no lock (deadlines, options, addresses).
  // False if closed.
  bool incref() noexcept;
  // Marks closed (false if it already was) and adds a reference the caller drops with decref().
  bool incref_and_close() noexcept;
  // True if the mutex is closed and that was the last reference: destroy the descriptor now.
  bool decref() noexcept;

  // The read (read=true) or write lock. Precondition: the caller holds a reference (incref),
  // which it keeps whatever the outcome. `queued`: `w` will be notified when the lock may be
  // free; call rwlock again then (Go's loop after Semacquire). `closed`: no lock; the caller
  // still drops its reference with decref().
  Lock rwlock(bool read, Waiter* w) noexcept;
  // Drops the lock and the caller's reference; true as for decref().
  bool rwunlock(bool read) noexcept;

  bool closed() const noexcept { return (state_.load(std::memory_order_acquire) & kClosed) != 0; }
  // Whether the read (or write) lock is held now (tests, diagnostics).
  bool locked(bool read) const noexcept {
    return (state_.load(std::memory_order_acquire) & (read ? kRLock : kWLock)) != 0;
  }
  std::uint64_t refs() const noexcept { return (state_.load() & kRefMask) / kRef; }

 private:
  static constexpr std::uint64_t kClosed = 1u << 0;
  static constexpr std::uint64_t kRLock = 1u << 1;
  static constexpr std::uint64_t kWLock = 1u << 2;
  static constexpr std::uint64_t kRef = 1u << 3;
  static constexpr std::uint64_t kRefMask = ((std::uint64_t{1} << 20) - 1) << 3;
  static constexpr std::uint64_t kRWait = std::uint64_t{1} << 23;
  static constexpr std::uint64_t kRMask = ((std::uint64_t{1} << 20) - 1) << 23;
  static constexpr std::uint64_t kWWait = std::uint64_t{1} << 43;
  static constexpr std::uint64_t kWMask = ((std::uint64_t{1} << 20) - 1) << 43;

  // The two lock-waiter semaphores (read: index 0, write: 1): counting, their waiters handed
  // permits in FIFO order. One Mutex for both: they are contended only when operations queue.
  // acquire: true if a permit was taken at once; false if `w` is queued and will be notified
  // when a permit is handed to it (the permit is consumed by that hand-over).
  bool sema_acquire(bool read, Waiter* w) noexcept;
  void sema_release(bool read) noexcept;

  std::atomic<std::uint64_t> state_{0};
  Mutex sema_mu_;
  std::uint32_t permits_[2] NETPOLL_GUARDED_BY(sema_mu_) = {0, 0};
  WaiterRing waiters_[2] NETPOLL_GUARDED_BY(sema_mu_);
};

}  // namespace netpoll::net
