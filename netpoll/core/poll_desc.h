// PollDesc: the per-descriptor state the poller and the operations share (Go's pollDesc).
//
// Per direction (read: rg_, write: wg_) one atomic word holds:
//
//   kIdle     no readiness recorded, nobody waiting
//   kReady    an event arrived that nobody consumed: the next park returns at once
//   kWaiting  an operation is committing to park (between begin_park and commit_park)
//   Waiter*   an operation is parked; the event, deadline or close that moves the word away
//             from this value owns the waiter and must notify() it
//
//   kIdle    --event-------------> kReady
//   kIdle    --begin_park--------> kWaiting         kReady --begin_park--> kIdle (no sleep)
//   kWaiting --commit_park-------> Waiter*          (CAS; fails if an event/close moved it)
//   kWaiting --event-------------> kReady           (the commit CAS then fails: no sleep)
//   kWaiting --close/deadline----> kIdle            (idem; the op then sees the error)
//   Waiter*  --event-------------> kReady  + notify
//   Waiter*  --close/deadline----> kIdle   + notify
//   any      --end_park----------> kIdle            (returns whether it was kReady)
//
// A readiness event that races a park is never lost: both sides use compare-and-swap on the
// same word, so the event either lands before begin_park (consumed), between begin_park and
// commit_park (commit fails), or after commit (the event notifies the waiter).
// At most one operation per direction parks at a time: the FD layer serializes them (a second
// concurrent park is a bug and aborts).
//
// Closing and deadlines (Go's netpollcheckerr): info_ mirrors closing / deadline-expired /
// event-error bits so operations check them without the lock. Writers hold lock_ and store
// info_ before unblocking; an operation stores kWaiting before loading info_. Both are
// sequentially consistent, so either the operation sees the bit or the writer sees kWaiting.
//
// Lifetime: PollDescs live in PollCache slabs that are never freed while the poller lives
// (the kernel may report an event for a descriptor after it was closed). fdseq_ is part of the
// token registered with the kernel and is bumped whenever the PollDesc is freed, so an event
// or a timer for a previous owner is recognised and dropped.
//
// Field access: rg_, wg_, info_, fdseq_ are atomics (any thread). The deadlines and their
// timers (deadlines_ and what it points to) are guarded by lock_ (NETPOLL_GUARDED_BY: the
// compiler checks the pointer). handle_ and user_ are written under lock_ when the PollDesc is
// opened and only read while it is open; index_ is constant; while free, user_ is PollCache's
// free-list link (its lock, which this class cannot name).
//
// Size: one 64-byte cache line per descriptor (B5 prints it), so two descriptors polled by
// different threads never share a line.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <system_error>

#include "netpoll/core/mutex.h"
#include "netpoll/core/timer_heap.h"
#include "netpoll/core/waiter.h"
#include "netpoll/contract/event.h"

namespace netpoll {

class TimerQueue;
class PollCache;

enum Mode : unsigned { kRead = 1, kWrite = 2, kReadWrite = kRead | kWrite };

class alignas(64) PollDesc {
 public:
  PollDesc() noexcept = default;
  PollDesc(const PollDesc&) = delete;
  PollDesc& operator=(const PollDesc&) = delete;

  // The token registered with the kernel: slot index (low 32 bits) and sequence (high 32).
  Token token() const noexcept {
    return Token{(std::uint64_t{fdseq_.load(std::memory_order_relaxed)} << 32) | index_};
  }
  static std::uint32_t token_index(Token t) noexcept { return static_cast<std::uint32_t>(t.value); }
  static std::uint32_t token_seq(Token t) noexcept { return static_cast<std::uint32_t>(t.value >> 32); }

  std::intptr_t handle() const noexcept { return handle_; }
  // Netpoll::open's user pointer. Only while the PollDesc is open (its owner holds it): once
  // freed, the word is the cache's free-list link, written under the cache's lock.
  void* user() const noexcept { return user_; }
  bool closing() const noexcept { return (info_.load() & kClosing) != 0; }

  // --- operations (the FD layer) -------------------------------------------------------------
  // Errors an operation must report now: Errc::closed, Errc::deadline_exceeded, and (read only)
  // Errc::event_error, which means "the poller saw an error: make the syscall to learn it".
  std::error_code check(Mode m) const noexcept;
  // Before an operation's syscall (Go's pollReset): check(), then forget a stale readiness.
  std::error_code prepare(Mode m) noexcept;

  // Parking, in three steps so a coroutine can suspend between them (Go's netpollblock).
  // m is kRead or kWrite.
  //   begin_park: true if readiness was already recorded (consumed; do not park).
  //   commit_park: false if the park must not sleep (an event, close or deadline intervened,
  //                or check(m) fails); true once `w` is published: it will be notified.
  //   end_park: after sleeping (or a failed commit); true if woken by readiness. On false,
  //             check(m) tells why (an empty error: a deadline was reset after firing; retry).
  bool begin_park(Mode m) noexcept;
  bool commit_park(Mode m, Waiter* w) noexcept;
  bool end_park(Mode m) noexcept;
  // All three for a plain thread: returns when ready, or the error (closed, deadline, event).
  std::error_code wait(Mode m, ThreadWaiter& w) noexcept;

  // Completion backends (IOCP) only. After a close or deadline ended a park and the operation
  // was cancelled, the kernel still owns its memory until the (aborted or completed) packet
  // is dequeued: park for that packet whatever close and deadlines say (Go's
  // pollWaitCanceled). Use instead of commit_park; a close or deadline may still wake the
  // waiter (end_park returns false): park again. The thread version loops itself.
  bool commit_park_for_completion(Mode m, Waiter* w) noexcept;
  void wait_completion(Mode m, ThreadWaiter& w) noexcept;

  // --- the poller side -----------------------------------------------------------------------
  // Records readiness (ioready) or just wakes (close/deadline) for direction m; returns the
  // waiter to notify, if one was parked.
  Waiter* unblock(Mode m, bool ioready) noexcept;
  // Go's setEventErr: an event carrying only an error flag makes reads check the socket error.
  // `seq` is the event's token sequence; nothing happens if the PollDesc was reused since.
  void set_event_error(bool on, std::uint32_t seq) noexcept;
  // Sticky until reuse: the poller reported the peer's end of stream or an error (RDHUP, HUP,
  // ERR). From then on a read never blocks, so "a short read drained the socket" no longer
  // holds: the end of stream may be pending behind the data, with no edge left to announce it.
  void set_read_hangup(std::uint32_t seq) noexcept;
  bool read_hangup() const noexcept { return (info_.load() & kReadHup) != 0; }

  // Deadline as absolute monotonic ns: 0 clears, <= now expires at once (and wakes a parked
  // operation for that direction with Errc::deadline_exceeded), else arms a timer.
  void set_deadline(std::int64_t deadline, std::int64_t now, Mode m, TimerQueue& q,
                    WaiterList& ready);
  // Go's pollUnblock: marks closing, stops the deadline timers, unblocks both directions.
  // Idempotent.
  void evict(TimerQueue& q, WaiterList& ready) noexcept;

 private:
  friend class PollCache;
  template <class B>
  friend class BasicNetpoll;

  static constexpr std::uintptr_t kIdle = 0, kReady = 1, kWaiting = 2;
  static constexpr std::uint32_t kClosing = 1, kEventErr = 2, kReadExpired = 4,
                                 kWriteExpired = 8, kReadHup = 16;

  std::atomic<std::uintptr_t>& slot(Mode m) noexcept { return m == kRead ? rg_ : wg_; }
  // Re-initialises a PollDesc taken from the cache for a new descriptor (Go's pollOpen).
  void reset_for_open(std::intptr_t handle, void* user, TimerQueue& q) noexcept;
  // True when no operation is parked or committing in either direction.
  bool quiescent() const noexcept;
  void update_direction(std::int64_t& cur, Timer& t, std::int64_t v, TimerQueue& q)
      NETPOLL_REQUIRES(lock_);
  void publish_expired() noexcept NETPOLL_REQUIRES(lock_);
  void deadline_fired(Mode m, std::uint32_t seq, WaiterList& ready) noexcept;
  static void read_deadline_fired(Timer* t, std::uint32_t seq, WaiterList& ready) noexcept;
  static void write_deadline_fired(Timer* t, std::uint32_t seq, WaiterList& ready) noexcept;

  // The deadlines and their timers: out of line, because most descriptors never have one and
  // 64 bytes of them would double the slot (B5). Made by the first set_deadline of a slot in
  // the TimerQueue's lasting memory (TimerQueue::lasting_block) and kept by the slot while the
  // poller lives: a popped timer may fire after its descriptor closed and the slot was reused,
  // and its Timer must still be valid memory, as the embedded ones were; its seq tells the
  // firing is stale. Trivially destructible: the queue frees the memory wholesale.
  struct Deadlines {
    explicit Deadlines(PollDesc* o) noexcept;
    PollDesc* const owner;
    // 0 none, -1 expired, >0 absolute monotonic ns
    std::int64_t rd = 0;
    std::int64_t wd = 0;
    Timer rt;  // read deadline timer; rt.seq is Go's rseq
    Timer wt;  // write deadline timer
  };

  std::atomic<std::uintptr_t> rg_{kIdle};
  std::atomic<std::uintptr_t> wg_{kIdle};
  std::atomic<std::uint32_t> info_{0};
  std::atomic<std::uint32_t> fdseq_{1};
  Mutex lock_;
  std::uint32_t index_ = 0;
  std::intptr_t handle_ = -1;
  // While open: the user pointer of Netpoll::open; while free: PollCache's free-list link (the
  // two never coexist; next_free() and set_next_free() are PollCache's, under its lock).
  void* user_ = nullptr;
  Deadlines* deadlines_ NETPOLL_GUARDED_BY(lock_) = nullptr;

  PollDesc* next_free() const noexcept { return static_cast<PollDesc*>(user_); }
  void set_next_free(PollDesc* p) noexcept { user_ = p; }
};

}  // namespace netpoll
