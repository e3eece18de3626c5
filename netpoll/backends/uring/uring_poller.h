// UringPoller: a Linux completion backend on io_uring (liburing), the contract's completion
// model (netpoll/contract/backend.h) as IOCP follows it, with the ring's own rules:
//
// - Calls are ring operations. The layer above makes no syscall for an operation: it tags a
//   UringOperation (in the operation's memory, one per direction per descriptor) with
//   begin(), gives it the function that fills the SQE (UringOperation::Calls) and submit()s
//   it; the operation's CQE is reported as one Event for its direction, with the CQE's result
//   written into the operation first (UringOperation::result()).
// - Deferred preparation. submit() only queues the operation: its SQE is filled on the polling
//   thread in the next wait(), just before the io_uring_enter that submits it, so queued sends
//   and receives are flushed by the same syscall that waits (one per loop iteration). Queued
//   on the polling thread, an operation goes on a plain list; from any other thread, on a
//   lock-free stack, and that thread wakes the poller. Calls::prepare runs there and may
//   refuse (the descriptor is closing): then no call is made and the operation completes with
//   -ECANCELED. Calls::submitted runs once the kernel has taken the SQE (it read the
//   descriptor number then), so the layer above can hold off closing a descriptor whose
//   number sits in an SQE not yet taken (a reused number would get another socket's I/O).
// - Cancel (close, deadlines): cancel() queues an IORING_OP_ASYNC_CANCEL for the operation
//   (by its address), or, if its SQE was not filled yet, completes it with -ECANCELED without
//   a call. Either way its completion still comes, and the operation must stay in place until
//   completed() says so (docs/testing.md case 24): the kernel writes into its buffers until
//   then. An operation queued for a cancel from another thread is linked into the poller's
//   stack: completed() stays false until the poller has taken it off, so memory is never
//   freed while linked.
// - One submitter at a time. The ring is made with COOP_TASKRUN | TASKRUN_FLAG | SUBMIT_ALL
//   (5.19; older kernels are refused as ENOSYS). Only the thread stepping the poller (the one
//   whose wait() comes next, under the Loop's claim) touches the SQ and the local queue; the
//   stepping thread may change between waits (a server thread's run(), then main's shutdown).
//   Not SINGLE_ISSUER, which would forbid that, nor DEFER_TASKRUN: see the constructor (a host
//   loop polling the ring fd missed completions). Task work of a call runs on the thread that
//   submitted it: a thread that stops stepping still gets its calls' completions posted when
//   it next enters the kernel (an interrupted sleep), and its calls are cancelled if it exits
//   (they then make their calls again: ECANCELED not asked for).
// - Waits: nanosecond timeouts through IORING_ENTER_EXT_ARG (5.11, required); completions of
//   our own cancels are not events, and an EINTR (the ring's task work interrupts the wait as a
//   signal would) is not a reason to return, so a wait that got only those waits again until
//   its timeout has passed, never returning early. A zero-timeout wait makes no
//   syscall when nothing is queued, the CQ is empty and the kernel flags no pending task work
//   (IORING_SETUP_TASKRUN_FLAG): the empty loop iteration (B8) costs no syscall.
// - wake(): an eventfd under a multishot POLL_ADD (each write is a wakeup, which the ring
//   reports; the counter is never read, so the waiting side pays no syscall and nothing needs
//   re-arming); coalesced with WakeFlag like the other backends.
// - Closing a descriptor: the kernel holds its file for every call in flight, so closing the
//   number would not close the socket (a listener would keep its address, a peer would not
//   see the end). On the polling thread, cancel_descriptor() cancels every call on it
//   (IORING_ASYNC_CANCEL_FD | ALL) with one io_uring_enter that also runs the task work they
//   queue: when it returns the kernel has let go of the file. Elsewhere the layer above lets
//   each woken operation cancel its own call (see release_kernel_calls in fd_uring.cc).
// - Registration: the ring needs none. register_handle checks its arguments, refuses a
//   descriptor registered twice (a bitmap by number) and counts; deregister_handle clears and
//   counts. A completion for a closed descriptor carries its old token, which the core drops.
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "netpoll/backends/common/counters.h"
#include "netpoll/backends/common/wake_flag.h"
#include "netpoll/contract/backend.h"

namespace netpoll {

class UringPoller;

// One ring operation slot (read or write direction) of a descriptor. Not movable: the kernel
// and the poller hold its address from submit() until completed().
class UringOperation {
 public:
  // Fills `sqe` for the call (descriptor, buffers, flags; not user_data, which the poller
  // sets). Polling thread. false: make no call; the operation completes with -ECANCELED.
  using PrepareFn = bool (*)(UringOperation& op, io_uring_sqe* sqe) noexcept;
  // The kernel has taken the SQE prepare filled. Polling thread.
  using SubmittedFn = void (*)(UringOperation& op) noexcept;
  struct Calls {
    PrepareFn prepare;
    SubmittedFn submitted;
  };

  UringOperation() noexcept = default;
  UringOperation(const UringOperation&) = delete;
  UringOperation& operator=(const UringOperation&) = delete;

  // Before each call: resets it and tags it for the descriptor's token and the direction
  // (Event::kReadable or Event::kWritable) its completion is reported as. Not while one is in
  // flight. Returns the operation, for set_calls and UringPoller::submit.
  UringOperation* begin(Token token, std::uint32_t direction) noexcept {
    token_ = token.value;
    dir_ = direction;
    res_ = 0;
    state_.store(kIdle, std::memory_order_relaxed);
    return this;
  }
  // What prepares the call and who owns this slot (owner() gives it back to the Calls).
  void set_calls(const Calls* calls, void* owner) noexcept {
    calls_ = calls;
    owner_ = owner;
  }
  void* owner() const noexcept { return owner_; }

  // Whether the call's completion has been reaped (and the poller is done with the slot):
  // only then may the memory it names be reused or freed.
  bool completed() const noexcept { return state_.load(std::memory_order_acquire) == kCompleted; }
  // Whether the operation was submitted and has not completed.
  bool in_flight() const noexcept {
    const std::uint32_t s = state_.load(std::memory_order_acquire);
    return s != kIdle && s != kCompleted;
  }

  // After completed(): the CQE's result as bytes and an errno (0 on success).
  struct Outcome {
    std::uint32_t bytes;
    int error;
  };
  Outcome result(int /*descriptor*/ = -1) const noexcept {
    if (res_ >= 0) return {static_cast<std::uint32_t>(res_), 0};
    return {0, -res_};
  }
  // The CQE's raw result (negative errno on failure).
  std::int32_t raw_result() const noexcept { return res_; }

 private:
  friend class UringPoller;
  // state_: the phase, plus kLinked while the poller's stack holds the operation for a cancel.
  enum : std::uint32_t {
    kIdle = 0,        // begun, not submitted
    kQueued = 1,      // submitted; its SQE not filled yet
    kCancelled = 2,   // queued, and cancelled before its SQE was filled
    kInKernel = 3,    // its SQE was filled (and is, or soon will be, the kernel's)
    kCompleted = 4,   // reaped: the poller no longer touches it
    kPhase = 7,
    kLinked = 8,      // on the poller's stack for a cancel (only with kInKernel / kCompleted)
  };

  std::uint64_t token_ = 0;
  std::atomic<std::uint32_t> state_{kIdle};
  std::uint32_t dir_ = 0;
  std::int32_t res_ = 0;
  UringOperation* next_ = nullptr;  // the poller's queue or stack
  const Calls* calls_ = nullptr;
  void* owner_ = nullptr;
};

class UringPoller {
 public:
  using handle_type = int;
  using native_handle_type = int;
  using operation_type = UringOperation;
  static constexpr std::string_view kName = "io_uring";
  // CQEs turned into events per wait: the same batch as the other backends.
  static constexpr std::size_t kMaxBatch = 128;

  // Throws std::system_error naming the call when the kernel refuses a ring (ENOSYS: no
  // io_uring; EPERM: kernel.io_uring_disabled or a seccomp filter; ENOMEM: the memlock limit
  // of kernels before 5.12) or lacks what this backend needs (IORING_FEAT_EXT_ARG, NODROP:
  // Linux 5.11), and when the eventfd cannot be made.
  UringPoller();
  ~UringPoller();
  UringPoller(const UringPoller&) = delete;
  UringPoller& operator=(const UringPoller&) = delete;

  // Every completion is reported, immediate or not: there is no skip mode.
  static bool completion_skipping_safe() noexcept { return false; }
  static std::error_code skip_completion_on_success(int) noexcept {
    return std::make_error_code(std::errc::operation_not_supported);
  }

  std::error_code register_handle(int fd, Token token) noexcept;
  std::error_code deregister_handle(int fd) noexcept;
  Result<std::size_t> wait(std::span<Event> out, Timeout timeout) noexcept;
  void wake() noexcept;
  int native_handle() const noexcept { return ring_.ring_fd; }
  PollerStats stats() const noexcept { return counters_.snapshot(); }

  // The ring backend itself (UringFallbackPoller::uring() gives the same to the ring FD).
  UringPoller& uring() noexcept { return *this; }

  // Queues the operation's call (after begin and set_calls). Any thread. `stepping`: the
  // caller is the thread stepping the poller now (between its waits, as a Loop's tasks are),
  // so the call goes on a plain local queue; otherwise on the lock-free stack, with a wake.
  // Without it: the thread that waited last is taken to be stepping.
  void submit(UringOperation& op, bool stepping) noexcept;
  void submit(UringOperation& op) noexcept;
  // Cancels the operation's call if it is in flight (its completion still comes). Any thread;
  // at most once per call. `stepping` as for submit.
  void cancel(UringOperation& op, bool stepping) noexcept;
  void cancel(UringOperation& op) noexcept;
  // On the polling thread: cancels every call in flight on `fd` and returns true once the
  // kernel let go of its file (see the top of this file); before `fd` is closed. On any other
  // thread it does nothing and returns false: only the polling thread may enter, and waiting
  // for it would make a Close wait on the Loop (a caller holding a lock the Loop's tasks take
  // would deadlock).
  bool cancel_descriptor(int fd, bool stepping) noexcept;
  bool cancel_descriptor(int fd) noexcept { return cancel_descriptor(fd, on_polling_thread()); }

  // Polling thread: hands the kernel every SQE filled and not yet taken (an io_uring_enter
  // that found the kernel short of memory, EAGAIN, leaves them in the SQ for the next wait),
  // without waiting for completions; retries every millisecond while the kernel refuses. A
  // Close on the Loop's thread needs it: it waits until no call of its descriptor is being
  // handed over, and only this thread could hand it over.
  void flush_submissions() noexcept;

  // Fault injection (tests only; set while the poller is not waiting): when set, asked before
  // each io_uring_enter; a nonzero errno skips the syscall and makes the enter fail with it,
  // taking nothing (as a kernel short of memory does with EAGAIN). Null: one never-taken
  // branch per enter.
  static inline int (*enter_fault_hook)() noexcept = nullptr;

  // Polling thread: whether calls are queued for the next wait() to submit (SQEs filled, or
  // operations queued on this thread). A host loop must not sleep on the handle meanwhile:
  // nothing it waits for is in the kernel yet (BasicNetpoll::next_timeout asks).
  bool has_queued() const noexcept {
    return local_head_ != nullptr || ring_.sq.sqe_tail != *ring_.sq.khead ||
           (!wake_armed_ && owner_.load(std::memory_order_relaxed) != 0);
  }
  // The ring setup flags the kernel accepted (tests and stats print them).
  unsigned setup_flags() const noexcept { return flags_; }
  // io_uring_enter syscalls made (each wait that entered the kernel, a full SQ's forced
  // submission, a descriptor cancel): the backend's whole syscall count besides wake()'s
  // writes. stats().waits is the same count (a wait that needs no enter makes no syscall);
  // registrations make none.
  std::uint64_t enters() const noexcept { return counters_.waits.get(); }

 private:
  static constexpr std::uint64_t kWakeTag = 1;    // the eventfd read
  static constexpr std::uint64_t kIgnoreTag = 2;  // our cancels, refused preparations

  void prep_cancel_descriptor(int fd) noexcept;

  bool on_polling_thread() const noexcept;
  void push_remote(UringOperation& op) noexcept;
  void adopt_thread() noexcept;
  io_uring_sqe* get_sqe() noexcept;
  // Fills SQEs for what was queued; appends completions it made without a call to out.
  std::size_t prepare_queued(std::span<Event> out) noexcept;
  std::size_t prepare_one(UringOperation& op, std::span<Event> out, std::size_t k) noexcept;
  // io_uring_enter: submits the SQ, waits for `wait_nr` CQEs (at most `ts` if not null);
  // fatal on an error that means the ring is broken.
  void enter(unsigned wait_nr, const __kernel_timespec* ts) noexcept;
  void after_submit(unsigned head_before) noexcept;
  std::size_t reap(std::span<Event> out, std::size_t k, bool* woken) noexcept;
  bool must_enter() const noexcept;
  static Event event_of(const UringOperation& op, std::int32_t res) noexcept;

  io_uring ring_{};
  unsigned flags_ = 0;
  int wakefd_ = -1;
  bool wake_armed_ = false;  // the wake poll is in the ring (polling thread)
  WakeFlag wake_flag_;
  std::atomic<std::uint64_t> owner_{0};  // the polling thread's id, once it waited (0: none)
  // Queued on the polling thread (FIFO through next_) / from other threads (a stack).
  UringOperation* local_head_ = nullptr;
  UringOperation* local_tail_ = nullptr;
  std::atomic<UringOperation*> remote_{nullptr};
  // Registered descriptors, one bit per number.
  std::mutex reg_mu_;
  std::vector<std::uint64_t> registered_;  // guarded by reg_mu_
  // The operation whose call each SQE slot holds (by SQE index), until the kernel took it.
  std::vector<UringOperation*> sqe_owner_;
  std::array<io_uring_cqe*, kMaxBatch> cqes_{};
  PollerCounters counters_;
};

static_assert(CompletionBackend<UringPoller>);

}  // namespace netpoll
