// Operation-sequence fuzzer over the core: a real Netpoll (epoll backend, PollCache, PollDesc,
// TimerQueue) driven by random register / close / fd-number reuse / dup / write / read / park /
// deadline / wake / poll sequences, checked after every step against a reference model that
// asks the kernel with poll(2) what is really readable or writable. A bare TimerHeap is driven
// beside it against a sorted multiset.
//
// Invariants checked (a violation aborts with the step that broke it):
//   - no lost wake: a parked reader (writer) whose descriptor poll(2) reports readable
//     (writable) or hung up has been woken by the next poll; a past deadline, a close or an
//     expired timer wakes it too, and a woken operation can tell why (ready, or an error);
//   - no stale event: every event the cache accepts names a live registration with the token it
//     was registered with, including events taken from the kernel before a close and fd-number
//     reuse and dispatched after (golang/go#59545), and events still raised through a dup of a
//     descriptor closed without deregistering;
//   - deadlines: a past deadline fails the direction at once, a near one expires within a
//     generous bound and never before its time, a far one or one moved away before it fired
//     (docs/testing.md case 13) never does, and the timer queue holds exactly the armed deadlines;
//   - wake: poll(infinite) after wake() returns;
//   - the timer heap pops in order of `when` and its indexes stay consistent;
//   - nothing leaks per input: PollCache in_use and the timer count return to 0, and the
//     process has the same number of open descriptors as before.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <utility>
#include <vector>

#include "netpoll/platform/netpoll.h"
#include "netpoll/core/timer_heap.h"
#include "fuzz/fuzz_input.h"
#include "test/posix_fd.h"
#include "netpoll/contract/clock.h"
#include "netpoll/contract/error.h"

namespace {

using namespace netpoll;

int g_step = 0;

// What the inputs exercised, printed at exit when NETPOLL_FUZZ_STATS is set (tools/fuzz -runs
// over a corpus shows whether the interesting paths are reached at all).
struct Coverage {
  std::uint64_t inputs = 0, steps = 0, events = 0, stale_dropped = 0, wakes_by_event = 0,
                wakes_by_deadline = 0, wakes_by_close = 0, reuses_in_batch = 0;
  ~Coverage() {
    if (!std::getenv("NETPOLL_FUZZ_STATS")) return;
    std::fprintf(stderr,
                 "netpoll_ops: %llu inputs, %llu steps, %llu events (%llu stale, dropped), woken by "
                 "event %llu / deadline %llu / close %llu, batches dispatched after a close %llu\n",
                 (unsigned long long)inputs, (unsigned long long)steps, (unsigned long long)events,
                 (unsigned long long)stale_dropped, (unsigned long long)wakes_by_event,
                 (unsigned long long)wakes_by_deadline, (unsigned long long)wakes_by_close,
                 (unsigned long long)reuses_in_batch);
  }
};
Coverage g_cov;

[[noreturn]] void violation(const char* what, int slot) {
  std::fprintf(stderr, "netpoll_ops_fuzzer: invariant violated at step %d (slot %d): %s\n", g_step,
               slot, what);
  std::abort();
}
#define EXPECT(cond, slot)                     \
  do {                                         \
    if (!(cond)) violation(#cond, (slot));     \
  } while (0)

// /dev/fd lists this process's descriptors on Linux (a link to /proc/self/fd) and on macOS
// alike. The directory's own descriptor is counted in every sample, so comparisons hold.
std::size_t open_fd_count() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/dev/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
  }
  return n;
}

struct ParkWaiter final : Waiter {
  ParkWaiter() noexcept : Waiter(&thunk) {}
  static void thunk(Waiter* w) noexcept { static_cast<ParkWaiter*>(w)->woken = true; }
  bool parked = false;
  bool woken = false;
};

enum class Dl { none, expired, near, far };
struct Deadline {
  Dl kind = Dl::none;
  std::int64_t when = 0;
};

constexpr int kSlots = 6;
constexpr std::int64_t kFar = 3600'000'000'000;  // an hour: never fires during an input

struct Slot {
  bool live = false;
  int fd = -1;    // registered end of a socketpair
  int peer = -1;  // the other end, driven by the fuzzer
  PollDesc* pd = nullptr;
  Token token{};
  std::vector<int> dups;  // dup()s of fd, never registered
  Deadline dl[2];         // [0] read, [1] write
  ParkWaiter w[2];

  void reset() {
    live = false;
    fd = peer = -1;
    pd = nullptr;
    token = Token{};
    dups.clear();
    for (int i = 0; i < 2; ++i) {
      dl[i] = Deadline{};
      w[i].parked = w[i].woken = false;
    }
  }
};

// A socketpair closed without deregistering while a dup kept its file open: the kernel keeps
// reporting its events with the old token.
struct Orphan {
  int peer;
  std::vector<int> dups;
};

int dir_index(Mode m) { return m == kRead ? 0 : 1; }

class Harness {
 public:
  void run(fuzz::Input& in) {
    while (!in.done() && g_step < 400) {
      ++g_step;
      ++g_cov.steps;
      const unsigned op = in.below(16);
      const unsigned s = in.below(kSlots);
      if (trace_) std::fprintf(stderr, "step %d: op %u slot %u\n", g_step, op, s);
      switch (op) {
        case 0: open(s); break;
        case 1: close(s, in.byte()); break;
        case 2: dup(s); break;
        case 3: write_peer(s, 1 + in.u16() % 8192); break;
        case 4: drain_peer(s); break;
        case 5: park_reader(s); break;
        case 6: park_writer(s); break;
        case 7: deadline(s, in.byte(), in.byte()); break;
        case 8: poll_zero(); break;
        case 9: poll_until_deadlines(); break;
        case 10: wake(in.below(3) + 1); break;
        case 11: shutdown_peer(s); break;
        case 12: take_batch(); break;
        case 13: dispatch_batch(); break;
        case 14: timer_heap_op(in); break;
        case 15: orphan_write(s, in.byte()); break;
      }
      check_timer_count();
    }
    teardown();
  }

 private:
  // --- registration ---------------------------------------------------------------------------
  void open(unsigned s) {
    Slot& sl = slots_[s];
    if (sl.live) return;
    int sv[2];
    if (netpoll::testing::socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv, /*nonblock=*/true) != 0)
      return;
    int small = 4096;  // a small send buffer: a writer fills it in a few calls
    ::setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    Result<PollDesc*> pd = np_.open(sv[0]);
    EXPECT(pd, static_cast<int>(s));
    sl.reset();
    sl.live = true;
    sl.fd = sv[0];
    sl.peer = sv[1];
    sl.pd = *pd;
    sl.token = (*pd)->token();
    ++live_;
    EXPECT(np_.cache().in_use() == live_, static_cast<int>(s));
  }

  void close(unsigned s, std::uint8_t how) {
    Slot& sl = slots_[s];
    if (!sl.live) return;
    const int si = static_cast<int>(s);
    // Go's order: unblock (parked operations wake with "closed"), then deregister and free.
    np_.evict(sl.pd);
    for (Mode m : {kRead, kWrite}) {
      ParkWaiter& w = sl.w[dir_index(m)];
      if (!w.parked) continue;
      EXPECT(w.woken, si);
      ++g_cov.wakes_by_close;
      EXPECT(!sl.pd->end_park(m), si);
      EXPECT(sl.pd->check(m) == Errc::closed, si);
      w.parked = w.woken = false;
    }
    const bool orphan = (how & 1) && !sl.dups.empty();
    if (orphan) {
      // The descriptor closed before deregistering, a dup keeping its file registered: the
      // deregister fails (EBADF) and the kernel keeps reporting with the stale token.
      ::close(sl.fd);
      (void)np_.close(sl.pd);
      orphans_.push_back(Orphan{sl.peer, std::move(sl.dups)});
    } else {
      EXPECT(!np_.close(sl.pd), si);
      ::close(sl.fd);
      if (how & 2) orphans_.push_back(Orphan{sl.peer, std::move(sl.dups)});  // peer stays open
      else {
        ::close(sl.peer);
        for (int d : sl.dups) ::close(d);
      }
    }
    EXPECT(np_.cache().lookup(sl.token) == nullptr, si);
    sl.reset();
    --live_;
    EXPECT(np_.cache().in_use() == live_, si);
    if (held_n_ > 0) ++g_cov.reuses_in_batch;
    // Bound the descriptors the orphans hold.
    while (orphans_.size() > 4) close_orphan(0);
  }

  void close_orphan(std::size_t i) {
    ::close(orphans_[i].peer);
    for (int d : orphans_[i].dups) ::close(d);
    orphans_.erase(orphans_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void dup(unsigned s) {
    Slot& sl = slots_[s];
    if (!sl.live || sl.dups.size() >= 2) return;
    const int d = ::fcntl(sl.fd, F_DUPFD_CLOEXEC, 0);
    if (d >= 0) sl.dups.push_back(d);
  }

  // --- the peer side ----------------------------------------------------------------------------
  void write_peer(unsigned s, unsigned n) {
    Slot& sl = slots_[s];
    if (!sl.live) return;
    static char buf[8192];
    (void)::send(sl.peer, buf, n, MSG_NOSIGNAL);
  }
  void drain_peer(unsigned s) {
    Slot& sl = slots_[s];
    if (!sl.live) return;
    static char buf[65536];
    while (::recv(sl.peer, buf, sizeof buf, 0) > 0) {
    }
  }
  void shutdown_peer(unsigned s) {
    if (slots_[s].live) ::shutdown(slots_[s].peer, SHUT_WR);
  }
  void orphan_write(unsigned s, std::uint8_t n) {
    if (orphans_.empty()) return;
    static char buf[256];
    (void)::send(orphans_[s % orphans_.size()].peer, buf, 1u + n, MSG_NOSIGNAL);
  }

  // --- operations: the FD layer's discipline (syscall until EAGAIN, then park) ----------------
  // Returns false if the direction reported an error instead (the model must agree).
  bool prepare(Slot& sl, Mode m, int si) {
    const std::error_code ec = sl.pd->prepare(m);
    const bool expired = sl.dl[dir_index(m)].kind == Dl::expired;
    if (ec == Errc::deadline_exceeded) {
      EXPECT(expired, si);
      return false;
    }
    EXPECT(!expired, si);
    EXPECT(!ec || ec == Errc::event_error, si);  // never "closed" on a live descriptor
    return true;
  }
  void park(Slot& sl, Mode m, int si) {
    ParkWaiter& w = sl.w[dir_index(m)];
    // Nothing was dispatched since prepare(): no readiness can be recorded.
    EXPECT(!sl.pd->begin_park(m), si);
    w.woken = false;
    EXPECT(sl.pd->commit_park(m, &w), si);
    w.parked = true;
  }
  void park_reader(unsigned s) {
    Slot& sl = slots_[s];
    const int si = static_cast<int>(s);
    if (!sl.live || sl.w[0].parked || !prepare(sl, kRead, si)) return;
    static char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(sl.fd, buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n == 0) return;                 // end of stream: nothing to wait for
      if (errno != EAGAIN) return;        // an error ends the operation
      break;
    }
    park(sl, kRead, si);
  }
  void park_writer(unsigned s) {
    Slot& sl = slots_[s];
    const int si = static_cast<int>(s);
    if (!sl.live || sl.w[1].parked || !prepare(sl, kWrite, si)) return;
    static char buf[65536];
    for (int i = 0; i < 64; ++i) {
      const ssize_t n = ::send(sl.fd, buf, sizeof buf, MSG_NOSIGNAL);
      if (n > 0) continue;
      if (n < 0 && errno == EAGAIN) return park(sl, kWrite, si);
      return;  // EPIPE and the like end the operation
    }
  }

  // --- deadlines ----------------------------------------------------------------------------------
  void deadline(unsigned s, std::uint8_t which, std::uint8_t arg) {
    Slot& sl = slots_[s];
    if (!sl.live) return;
    const int si = static_cast<int>(s);
    const Mode m = (which & 3) == 0 ? kRead : (which & 3) == 1 ? kWrite : kReadWrite;
    const std::int64_t now = now_ns();
    Deadline d;
    std::int64_t when = 0;
    switch ((which >> 2) & 3) {
      case 0: break;  // clear
      case 1: d.kind = Dl::expired; when = now - 1 - arg; break;
      case 2: d.kind = Dl::near; when = now + 200'000 + std::int64_t{arg} * 10'000; break;  // <= 2.8 ms
      case 3: d.kind = Dl::far; when = now + kFar; break;
    }
    d.when = when;
    np_.set_deadline(sl.pd, when, m);
    for (Mode one : {kRead, kWrite}) {
      if (!(m & one)) continue;
      sl.dl[dir_index(one)] = d;
      ParkWaiter& w = sl.w[dir_index(one)];
      // A near deadline may already have passed when Netpoll read the clock (a slow machine):
      // then it expires at once, never before its time.
      if (d.kind == Dl::near && sl.pd->check(one) == Errc::deadline_exceeded) {
        EXPECT(now_ns() >= d.when, si);
        sl.dl[dir_index(one)].kind = Dl::expired;
        continue;
      }
      if (d.kind == Dl::expired) {
        EXPECT(sl.pd->check(one) == Errc::deadline_exceeded, si);
        if (w.parked) EXPECT(w.woken, si);  // woken on this thread, before set_deadline returned
      } else {
        EXPECT(sl.pd->check(one) != Errc::deadline_exceeded, si);
      }
    }
    finish_woken();
  }

  void check_timer_count() {
    std::size_t armed = 0;
    for (Slot& sl : slots_)
      if (sl.live)
        for (const Deadline& d : sl.dl) armed += d.kind == Dl::near || d.kind == Dl::far;
    EXPECT(np_.timers().size() == armed, -1);
  }

  // --- polling ------------------------------------------------------------------------------------
  // `complete`: every event the kernel had was dispatched (not so after a held batch alone).
  void after_poll(std::int64_t poll_end, bool complete = true) {
    ready_.notify_all();
    // Near deadlines: the ones that fired must not have fired early.
    for (int s = 0; s < kSlots; ++s) {
      Slot& sl = slots_[s];
      if (!sl.live) continue;
      for (Mode m : {kRead, kWrite}) {
        Deadline& d = sl.dl[dir_index(m)];
        const bool failed = sl.pd->check(m) == Errc::deadline_exceeded;
        if (d.kind == Dl::near && failed) {
          EXPECT(poll_end >= d.when, s);
          d.kind = Dl::expired;
        }
        EXPECT(failed == (d.kind == Dl::expired), s);
        if (failed && sl.w[dir_index(m)].parked) EXPECT(sl.w[dir_index(m)].woken, s);
      }
    }
    // No lost wake: the kernel says the condition holds, so the parked waiter was woken.
    for (int s = 0; complete && s < kSlots; ++s) {
      Slot& sl = slots_[s];
      if (!sl.live || !(sl.w[0].parked || sl.w[1].parked)) continue;
      pollfd p{sl.fd, POLLIN | POLLOUT, 0};
      EXPECT(::poll(&p, 1, 0) >= 0, s);
      const bool hup = p.revents & (POLLHUP | POLLERR);
      if (sl.w[0].parked && ((p.revents & POLLIN) || hup)) EXPECT(sl.w[0].woken, s);
      if (sl.w[1].parked && ((p.revents & POLLOUT) || hup)) EXPECT(sl.w[1].woken, s);
    }
    finish_woken();
  }

  // A woken operation ends its park: by readiness, or with a reason check() names.
  void finish_woken() {
    ready_.notify_all();
    for (int s = 0; s < kSlots; ++s) {
      Slot& sl = slots_[s];
      if (!sl.live) continue;
      for (Mode m : {kRead, kWrite}) {
        ParkWaiter& w = sl.w[dir_index(m)];
        if (!w.parked || !w.woken) continue;
        const bool ready = sl.pd->end_park(m);
        const std::error_code ec = sl.pd->check(m);
        if (!ready) EXPECT(ec == Errc::deadline_exceeded || ec == Errc::closed, s);
        ++(ready ? g_cov.wakes_by_event : g_cov.wakes_by_deadline);
        w.parked = w.woken = false;
      }
    }
  }

  // An accepted event must carry the live registration's exact token.
  void check_events(const Event* evs, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      ++g_cov.events;
      PollDesc* pd = np_.cache().lookup(evs[i].token);
      if (!pd) {
        ++g_cov.stale_dropped;
        continue;
      }
      bool found = false;
      for (Slot& sl : slots_)
        if (sl.live && sl.pd == pd) found = sl.token.value == evs[i].token.value;
      EXPECT(found, -1);
    }
  }

  void poll_zero() {
    dispatch_batch();
    Event evs[NetpollT::kBatch];
    Result<std::size_t> n = np_.backend().wait(evs, Timeout::zero());
    EXPECT(n, -1);
    check_events(evs, *n);
    np_.dispatch(std::span<const Event>(evs, *n), ready_);
    EXPECT(np_.poll(Timeout::zero(), ready_), -1);
    after_poll(now_ns());
  }

  void poll_until_deadlines() {
    std::int64_t last = 0;
    for (const Slot& sl : slots_)
      if (sl.live)
        for (const Deadline& d : sl.dl)
          if (d.kind == Dl::near && d.when > last) last = d.when;
    if (last == 0) return poll_zero();
    dispatch_batch();
    // Generous: a loaded machine (sanitizers, other builds) may oversleep, never undersleep.
    const std::int64_t give_up = last + 2'000'000'000;
    for (;;) {
      EXPECT(np_.poll(Timeout::after(std::chrono::milliseconds(5)), ready_), -1);
      const std::int64_t end = now_ns();
      after_poll(end);
      bool pending = false;
      for (const Slot& sl : slots_)
        if (sl.live)
          for (const Deadline& d : sl.dl) pending |= d.kind == Dl::near;
      if (!pending) return;
      EXPECT(end < give_up, -1);  // a near deadline never fired: a lost timer
    }
  }

  void wake(unsigned times) {
    dispatch_batch();
    for (unsigned i = 0; i < times; ++i) np_.wake();
    // Must return: the wake is pending (a lost wake hangs here; libFuzzer's -timeout reports it).
    EXPECT(np_.poll(Timeout::infinite(), ready_), -1);
    after_poll(now_ns());
  }

  // Events taken from the kernel now and dispatched later, after whatever closes and fd-number
  // reuses the next steps do (one wait batch spanning a close + reuse).
  void take_batch() {
    dispatch_batch();  // one held batch at a time: events are never dropped
    Result<std::size_t> n = np_.backend().wait(held_, Timeout::zero());
    EXPECT(n, -1);
    held_n_ = *n;
  }
  void dispatch_batch() {
    if (held_n_ == 0) return;
    check_events(held_.data(), held_n_);
    np_.dispatch(std::span<const Event>(held_.data(), held_n_), ready_);
    held_n_ = 0;
    after_poll(now_ns(), false);
  }

  // --- the bare timer heap against a sorted model ---------------------------------------------------
  void timer_heap_op(fuzz::Input& in) {
    const unsigned t = in.below(kTimers);
    const std::uint8_t kind = in.byte();
    Timer& tm = timers_[t];
    if (kind < 128) {
      const std::int64_t when = in.byte();
      if (tm.queued()) heap_model_.erase({tm.when, t});
      heap_.schedule(&tm, when);
      tm.when = when;
      heap_model_.insert({when, t});
    } else if (kind < 200) {
      if (tm.queued()) heap_model_.erase({tm.when, t});
      heap_.cancel(&tm);
    } else if (!heap_.empty()) {
      const std::int64_t top = heap_.top().when;
      Timer* popped = heap_.pop();
      EXPECT(!popped->queued(), -1);
      EXPECT(top == heap_model_.begin()->first, -1);
      EXPECT(popped->when == top, -1);
      EXPECT(heap_model_.erase({top, static_cast<unsigned>(popped - timers_.data())}) == 1, -1);
    }
    EXPECT(heap_.size() == heap_model_.size(), -1);
    EXPECT(heap_.verify(), -1);
  }

  void teardown() {
    for (unsigned s = 0; s < kSlots; ++s) close(s, 0);
    while (!orphans_.empty()) close_orphan(0);
    EXPECT(np_.cache().in_use() == 0, -1);
    EXPECT(np_.timers().size() == 0, -1);
  }

  using NetpollT = Netpoll;
  const bool trace_ = std::getenv("NETPOLL_FUZZ_TRACE") != nullptr;  // prints each step
  static constexpr unsigned kTimers = 16;
  NetpollT np_;
  WaiterList ready_;
  std::array<Slot, kSlots> slots_;
  std::size_t live_ = 0;
  std::vector<Orphan> orphans_;
  std::array<Event, NetpollT::kBatch> held_{};
  std::size_t held_n_ = 0;
  TimerHeap heap_;
  std::array<Timer, kTimers> timers_{};
  std::set<std::pair<std::int64_t, unsigned>> heap_model_;  // (when, timer)
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::size_t fds_before = open_fd_count();
  g_step = 0;
  ++g_cov.inputs;
  {
    fuzz::Input in(data, size);
    Harness h;
    h.run(in);
  }
  if (open_fd_count() != fds_before) violation("descriptors leaked", -1);
  return 0;
}
