#include "netpoll/backends/uring/uring_poller.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>

#include "netpoll/backends/common/wait_deadline.h"
#include "netpoll/contract/error.h"

namespace netpoll {
namespace {

// SQ entries. A loop iteration queues at most one SQE per operation started since the last
// wait (B2's 500 connections: up to 500 receives or sends at once); a full SQ costs one more
// io_uring_enter, not a failure. The CQ is 8x as large (the kernel's default is 2x): every
// SQE in flight can hold a CQE, and a full CQ goes to the kernel's slower overflow list.
constexpr unsigned kSqEntries = 512;
constexpr unsigned kCqEntries = 8 * kSqEntries;

// Names the polling thread: a number no other thread of the process ever gets (a
// thread_local's address could be an exited thread's again).
std::atomic<std::uint64_t> g_next_thread_id{1};
std::uint64_t this_thread_id() noexcept {
  thread_local const std::uint64_t id = g_next_thread_id.fetch_add(1, std::memory_order_relaxed);
  return id;
}

}  // namespace

UringPoller::UringPoller() {
  // Task work run when the thread enters the kernel anyway instead of by an interrupt
  // (COOP_TASKRUN, 5.19), flagged in the SQ so a zero-timeout wait knows whether it must enter
  // (TASKRUN_FLAG), and a batch that goes on past an SQE the kernel refuses (SUBMIT_ALL, 5.18:
  // every filled SQE is taken, so no enter_io is left held). Nothing older: the backend needs
  // multishot POLL_ADD (5.13) and IORING_ASYNC_CANCEL_FD (5.19), so a kernel refusing the set
  // is reported as ENOSYS (UringFallbackPoller then runs epoll).
  // Not SINGLE_ISSUER (6.0): a Loop may be stepped by one thread, then another (a server
  // thread's run(), then main's shutdown), and the ring must take both as submitters.
  // Not DEFER_TASKRUN (6.1): with it, a host loop sleeping in poll(2) on the ring fd was not
  // woken by completions (test/embed_poll_test: 4 of 12 connections served, then a 30 s
  // stall), and a Loop must stay embeddable.
  io_uring_params p{};
  p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL |
            IORING_SETUP_CQSIZE;
  p.cq_entries = kCqEntries;
  const int r = io_uring_queue_init_params(kSqEntries, &ring_, &p);
  if (r == -EINVAL)
    throw std::system_error(ENOSYS, std::generic_category(),
                            "io_uring_setup: the kernel lacks COOP_TASKRUN / SUBMIT_ALL (Linux 5.19)");
  if (r != 0) throw std::system_error(-r, std::generic_category(), "io_uring_setup");
  flags_ = p.flags;
  const unsigned need = IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP;
  if ((ring_.features & need) != need) {
    io_uring_queue_exit(&ring_);
    throw std::system_error(ENOSYS, std::generic_category(),
                            "io_uring_setup: the kernel lacks IORING_FEAT_EXT_ARG or NODROP (Linux 5.11)");
  }
  wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakefd_ < 0) {
    const int err = errno;
    io_uring_queue_exit(&ring_);
    throw std::system_error(err, std::generic_category(), "eventfd");
  }
  sqe_owner_.assign(*ring_.sq.kring_entries, nullptr);
}

UringPoller::~UringPoller() {
  // The kernel cancels what is still in flight when the ring goes; by the contract no
  // operation is (each waits for its completion), and the wake poll names no memory of ours.
  io_uring_queue_exit(&ring_);
  close(wakefd_);
}

std::error_code UringPoller::register_handle(int fd, Token token) noexcept {
  if (token.value == Token::kReserved) return Errc::invalid_argument;
  if (fd < 0) return errno_code(EBADF);
  if (fd == ring_.ring_fd) return Errc::invalid_argument;
  if (fd == wakefd_) return Errc::already_registered;  // a stale number that is now ours
  {
    const std::size_t word = static_cast<std::size_t>(fd) / 64;
    const std::uint64_t bit = std::uint64_t{1} << (fd % 64);
    std::lock_guard<std::mutex> g(reg_mu_);
    try {
      if (registered_.size() <= word) registered_.resize(word + 1);
    } catch (const std::bad_alloc&) {
      return errno_code(ENOMEM);
    }
    if (registered_[word] & bit) return Errc::already_registered;
    registered_[word] |= bit;
  }
  PollerCounters::bump(counters_.registrations);
  return {};
}

std::error_code UringPoller::deregister_handle(int fd) noexcept {
  if (fd < 0) return errno_code(EBADF);
  {
    const std::size_t word = static_cast<std::size_t>(fd) / 64;
    const std::uint64_t bit = std::uint64_t{1} << (fd % 64);
    std::lock_guard<std::mutex> g(reg_mu_);
    if (registered_.size() <= word || !(registered_[word] & bit)) return Errc::not_registered;
    registered_[word] &= ~bit;
  }
  PollerCounters::bump(counters_.deregistrations);
  return {};
}

void UringPoller::prep_cancel_descriptor(int fd) noexcept {
  io_uring_sqe* sqe = get_sqe();
  io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
  io_uring_sqe_set_data64(sqe, kIgnoreTag);
}

bool UringPoller::cancel_descriptor(int fd, bool stepping) noexcept {
  // Only the thread that steps the poller may touch the SQ.
  if (!stepping) return false;
  // The cancel completes poll-armed calls through task work, which this enter runs
  // (GETEVENTS): when it returns they are completed and their files put.
  prep_cancel_descriptor(fd);
  enter(0, nullptr);
  return true;
}

void UringPoller::flush_submissions() noexcept {
  // enter() publishes the SQEs filled since the last one and counts what the kernel took.
  for (;;) {
    enter(0, nullptr);
    if (ring_.sq.sqe_tail == *ring_.sq.khead) return;
    // Short of memory: nothing else frees it on this thread, so wait a little, not spin.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool UringPoller::on_polling_thread() const noexcept {
  return owner_.load(std::memory_order_relaxed) == this_thread_id();
}

void UringPoller::adopt_thread() noexcept {
  const std::uint64_t me = this_thread_id();
  if (owner_.load(std::memory_order_relaxed) == me) return;
  // A new polling thread (wait() is called by one thread at a time: the Loop's claim orders
  // this one after the last). The local queue and the SQ pass to it with the claim; callers
  // that say whether they step the poller (submit/cancel with `stepping`) never touch them
  // from elsewhere.
  // No registered ring fd (io_uring_register_ring_fd): it lives in the registering thread's
  // io_uring context, so a poller destroyed on another thread (a Loop polled by a pool thread,
  // destroyed by main) would leave that thread holding the whole ring until it exits.
  owner_.store(me, std::memory_order_relaxed);
}

void UringPoller::submit(UringOperation& op) noexcept { submit(op, on_polling_thread()); }

void UringPoller::submit(UringOperation& op, bool stepping) noexcept {
  op.next_ = nullptr;
  if (stepping) {
    op.state_.store(UringOperation::kQueued, std::memory_order_relaxed);
    if (local_tail_)
      local_tail_->next_ = &op;
    else
      local_head_ = &op;
    local_tail_ = &op;
    return;
  }
  op.state_.store(UringOperation::kQueued, std::memory_order_relaxed);
  push_remote(op);
}

void UringPoller::push_remote(UringOperation& op) noexcept {
  UringOperation* head = remote_.load(std::memory_order_relaxed);
  do {
    op.next_ = head;
    // seq_cst: with the polling thread's seq_cst load after WakeFlag::consume, a Dekker pair
    // (wake_flag.h): a wake() that makes no syscall cannot leave this operation unseen.
  } while (!remote_.compare_exchange_weak(head, &op, std::memory_order_seq_cst,
                                          std::memory_order_relaxed));
  wake();  // the polling thread takes the stack in its next wait
}

void UringPoller::cancel(UringOperation& op) noexcept { cancel(op, on_polling_thread()); }

void UringPoller::cancel(UringOperation& op, bool stepping) noexcept {
  std::uint32_t s = op.state_.load(std::memory_order_acquire);
  for (;;) {
    switch (s) {
      case UringOperation::kQueued:
        // Not filled yet: the poller completes it without a call.
        if (op.state_.compare_exchange_weak(s, UringOperation::kCancelled,
                                            std::memory_order_acq_rel))
          return;
        continue;
      case UringOperation::kInKernel:
        if (stepping) {
          // Between waits the SQ is this thread's. The target cannot have been reaped (only
          // wait() reaps, and it submits this cancel first), so the address is still it.
          io_uring_sqe* sqe = get_sqe();
          io_uring_prep_cancel(sqe, &op, 0);
          io_uring_sqe_set_data64(sqe, kIgnoreTag);
          return;
        }
        // Another thread: the poller prepares the cancel from its stack. While linked the
        // operation does not count as completed, so it stays in place until the poller took it.
        if (!op.state_.compare_exchange_weak(s, UringOperation::kInKernel | UringOperation::kLinked,
                                             std::memory_order_acq_rel))
          continue;
        push_remote(op);
        return;
      default:
        return;  // idle, completed, cancelled already: nothing in flight to cancel
    }
  }
}

io_uring_sqe* UringPoller::get_sqe() noexcept {
  io_uring_sq& sq = ring_.sq;
  for (;;) {
    const unsigned head = *sq.khead;  // only this thread's enters move it (no SQPOLL)
    if (sq.sqe_tail - head < *sq.kring_entries) {
      io_uring_sqe* sqe = &sq.sqes[sq.sqe_tail & *sq.kring_mask];
      sqe_owner_[sq.sqe_tail & *sq.kring_mask] = nullptr;
      ++sq.sqe_tail;
      return sqe;
    }
    // Full: hand what is queued to the kernel now (it takes all of them, or fails loudly).
    enter(0, nullptr);
  }
}

Event UringPoller::event_of(const UringOperation& op, std::int32_t res) noexcept {
  Event e;
  e.token = Token{op.token_};
  e.flags = op.dir_;
  e.result = res > 0 ? static_cast<std::uint32_t>(res) : 0;
  return e;
}

std::size_t UringPoller::prepare_one(UringOperation& op, std::span<Event> out,
                                     std::size_t k) noexcept {
  std::uint32_t s = op.state_.load(std::memory_order_acquire);
  for (;;) {
    if (s == UringOperation::kQueued) {
      io_uring_sqe* sqe = get_sqe();
      if (!op.calls_->prepare(op, sqe)) {
        // Refused (closing): no call. Turn the slot into a no-op and complete it here.
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, kIgnoreTag);
        op.res_ = -ECANCELED;
        out[k] = event_of(op, op.res_);
        op.state_.store(UringOperation::kCompleted, std::memory_order_release);
        return k + 1;
      }
      io_uring_sqe_set_data(sqe, &op);
      sqe_owner_[(ring_.sq.sqe_tail - 1) & *ring_.sq.kring_mask] = &op;
      // A cancel from another thread may race this: it then sees kInKernel and queues one.
      if (op.state_.compare_exchange_strong(s, UringOperation::kInKernel, std::memory_order_acq_rel))
        return k;
      // It became kCancelled meanwhile: the SQE is filled, so cancel it in the kernel.
      io_uring_sqe* c = get_sqe();
      io_uring_prep_cancel(c, &op, 0);
      io_uring_sqe_set_data64(c, kIgnoreTag);
      op.state_.store(UringOperation::kInKernel, std::memory_order_release);
      return k;
    }
    if (s == UringOperation::kCancelled) {
      op.res_ = -ECANCELED;
      out[k] = event_of(op, op.res_);
      op.state_.store(UringOperation::kCompleted, std::memory_order_release);
      return k + 1;
    }
    if (s == (UringOperation::kInKernel | UringOperation::kLinked)) {
      io_uring_sqe* sqe = get_sqe();
      io_uring_prep_cancel(sqe, &op, 0);
      io_uring_sqe_set_data64(sqe, kIgnoreTag);
      if (op.state_.compare_exchange_strong(s, UringOperation::kInKernel, std::memory_order_acq_rel))
        return k;
      continue;  // cannot happen (only this thread reaps), but re-read rather than assume
    }
    if (s == (UringOperation::kCompleted | UringOperation::kLinked)) {
      // Reaped while linked: its event found it still linked, so it waits for another.
      out[k] = event_of(op, op.res_);
      op.state_.store(UringOperation::kCompleted, std::memory_order_release);
      return k + 1;
    }
    fatal("UringPoller: an operation was queued in a state it cannot be queued in");
  }
}

std::size_t UringPoller::prepare_queued(std::span<Event> out) noexcept {
  // Take the stack and append it, oldest first, to the local FIFO.
  if (remote_.load(std::memory_order_seq_cst) != nullptr) {
    UringOperation* s = remote_.exchange(nullptr, std::memory_order_seq_cst);
    UringOperation* rev = nullptr;
    while (s) {
      UringOperation* n = s->next_;
      s->next_ = rev;
      rev = s;
      s = n;
    }
    while (rev) {
      UringOperation* n = rev->next_;
      rev->next_ = nullptr;
      if (local_tail_)
        local_tail_->next_ = rev;
      else
        local_head_ = rev;
      local_tail_ = rev;
      rev = n;
    }
  }
  std::size_t k = 0;
  // Each one may complete at once (an event), so stop while out has room for one more.
  while (local_head_ && k < out.size()) {
    UringOperation* op = local_head_;
    local_head_ = op->next_;
    if (!local_head_) local_tail_ = nullptr;
    k = prepare_one(*op, out, k);  // op may be freed once it is kCompleted
  }
  if (!wake_armed_) {  // the first wait, or the multishot poll ended
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_multishot(sqe, wakefd_, POLLIN);
    io_uring_sqe_set_data64(sqe, kWakeTag);
    wake_armed_ = true;
  }
  return k;
}

void UringPoller::enter(unsigned wait_nr, const __kernel_timespec* ts) noexcept {
  io_uring_sq& sq = ring_.sq;
  const unsigned head_before = *sq.khead;
  if (sq.sqe_head != sq.sqe_tail) {
    sq.sqe_head = sq.sqe_tail;
    io_uring_smp_store_release(sq.ktail, sq.sqe_tail);
  }
  const unsigned to_submit = sq.sqe_tail - head_before;
  unsigned flags = IORING_ENTER_GETEVENTS;
  if (ring_.enter_ring_fd != ring_.ring_fd) flags |= IORING_ENTER_REGISTERED_RING;
  io_uring_getevents_arg arg{};
  void* argp = nullptr;
  std::size_t argsz = 0;
  if (ts) {
    arg.ts = reinterpret_cast<std::uint64_t>(ts);
    flags |= IORING_ENTER_EXT_ARG;
    argp = &arg;
    argsz = sizeof arg;
  }
  int r;
  if (enter_fault_hook && (r = enter_fault_hook()) != 0) [[unlikely]] {
    r = -r;
  } else {
    counters_.waits.add();  // PollerStats::waits counts wait syscalls: here every enter
    r = io_uring_enter2(static_cast<unsigned>(ring_.enter_ring_fd), to_submit, wait_nr, flags,
                        static_cast<sigset_t*>(argp), argsz);
  }
  if (to_submit != 0) after_submit(head_before);
  // ETIME: the timeout passed; EINTR: interrupted; EAGAIN / EBUSY: the kernel is short of
  // memory or CQ room for now (the SQEs it did not take stay queued). Anything else means the
  // ring itself is broken.
  if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
    fatal_syscall("io_uring_enter", -r);
}

void UringPoller::after_submit(unsigned head_before) noexcept {
  // The SQEs the kernel took (it reads the descriptor numbers as it takes them).
  const unsigned head = *ring_.sq.khead;
  for (unsigned i = head_before; i != head; ++i) {
    UringOperation*& slot = sqe_owner_[i & *ring_.sq.kring_mask];
    if (UringOperation* op = slot) {
      slot = nullptr;
      op->calls_->submitted(*op);
    }
  }
}

std::size_t UringPoller::reap(std::span<Event> out, std::size_t k, bool* woken) noexcept {
  while (k < out.size()) {
    const unsigned want = static_cast<unsigned>(std::min(out.size() - k, cqes_.size()));
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes_.data(), want);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      const io_uring_cqe* cqe = cqes_[i];
      const std::uint64_t tag = cqe->user_data;
      if (tag == kWakeTag) {
        // A multishot poll: it stays armed while the kernel says F_MORE; if it ended (an
        // overflowed CQ can end it), the next wait arms it again, and until then has_queued()
        // holds, so a host loop steps before it sleeps on the ring fd.
        if (!(cqe->flags & IORING_CQE_F_MORE)) wake_armed_ = false;
        counters_.wakeups.add();
        wake_flag_.consume();
        *woken = true;
        continue;
      }
      if (tag == kIgnoreTag) continue;
      auto* op = reinterpret_cast<UringOperation*>(tag);
      op->res_ = cqe->res;
      out[k++] = event_of(*op, cqe->res);
      // Last touch: from kCompleted on the operation may be freed.
      std::uint32_t s = op->state_.load(std::memory_order_relaxed);
      while (!op->state_.compare_exchange_weak(
          s, UringOperation::kCompleted | (s & UringOperation::kLinked), std::memory_order_release,
          std::memory_order_relaxed)) {
      }
    }
    io_uring_cq_advance(&ring_, n);
    if (n < want) break;
  }
  return k;
}

bool UringPoller::must_enter() const noexcept {
  // Queued SQEs, task work the kernel deferred to our next enter, or CQEs in its overflow list.
  return ring_.sq.sqe_tail != *ring_.sq.khead ||
         (IO_URING_READ_ONCE(*ring_.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

Result<std::size_t> UringPoller::wait(std::span<Event> out, Timeout timeout) noexcept {
  if (out.empty()) return Errc::invalid_argument;
  adopt_thread();
  bool woken = false;
  const WaitDeadline deadline(timeout);
  for (;;) {
    std::size_t k = prepare_queued(out);
    // Something to report already, or a poll: hand the queued SQEs over (a send must not wait
    // for an event) and take what is there, entering only if something needs the kernel.
    if (k != 0 || timeout.is_zero() || io_uring_cq_ready(&ring_) != 0) {
      if (must_enter()) enter(0, nullptr);
      k = reap(out, k, &woken);
      // Only our own cancels' completions were there: a timed wait goes on waiting, for what
      // is left of its time.
      if (k != 0 || woken || timeout.is_zero()) return k;
      if (!timeout.is_infinite() && !deadline.more(&timeout)) return k;
      continue;
    }
    __kernel_timespec ts{};
    const __kernel_timespec* tsp = nullptr;
    if (!timeout.is_infinite()) {
      ts.tv_sec = timeout.nanoseconds() / 1000000000;
      ts.tv_nsec = timeout.nanoseconds() % 1000000000;
      tsp = &ts;
    }
    enter(1, tsp);
    k = reap(out, 0, &woken);
    if (k != 0 || woken) return k;
    // Only our own cancels' completions, an EINTR (the ring's own task work interrupts the
    // wait as a signal would), or nothing at the deadline: wait out the rest.
    if (!timeout.is_infinite() && !deadline.more(&timeout)) return k;
  }
}

void UringPoller::wake() noexcept {
  if (!wake_flag_.claim()) return;
  const std::uint64_t one = 1;
  // Every write is a wakeup of the eventfd, which the multishot poll turns into a completion,
  // so the counter is never read on the waiting side. It would be full after 2^64-2 writes
  // (EAGAIN): then it is reset once and the write made again.
  for (;;) {
    if (write(wakefd_, &one, sizeof one) == sizeof one) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) fatal_syscall("write(eventfd)", errno);
    std::uint64_t v;
    (void)!read(wakefd_, &v, sizeof v);
    PollerCounters::bump(counters_.wake_drains);
  }
  PollerCounters::bump(counters_.wake_signals);
}

}  // namespace netpoll
