// The kqueue test double (see kqueue_double.h for what it covers).
//
// Shape: the kqueue descriptor is an epoll fd (the "outer" set) holding three things:
//   - rd_: an epoll set with every descriptor that has an EVFILT_READ kevent
//          (EPOLLIN|EPOLLRDHUP, edge-triggered);
//   - wr_: an epoll set with every descriptor that has an EVFILT_WRITE kevent (EPOLLOUT, ET);
//   - kick_: an eventfd kept readable exactly while the active queue is non-empty.
// Two inner sets rather than one: Linux filters a wakeup by its poll key against each epoll
// item's mask, so data arriving wakes only the rd_ item and freed send space only the wr_
// item. That gives the per-filter activations of a BSD kernel (so_rcv and so_snd each have
// their own knote list); one set would report the write kevent again on every read edge.
// The outer set is level-triggered on all three, so the kqueue descriptor is pollable exactly
// when a kevent() could have something to return, as the real one is.
//
// Knote life (all under mu_): an edge from an inner set, a NOTE_TRIGGER, or the filter finding
// its condition on EV_ADD/EV_ENABLE marks the knote active and queues it (unless disabled).
// kevent() re-runs the filter on each queued knote before copying it out, dropping it if the
// condition no longer holds (the manual's "filter is also run when the user attempts to
// retrieve"). After copy-out: EV_ONESHOT deletes, EV_DISPATCH disables, EV_CLEAR resets the
// state; otherwise the knote stays queued (level-triggered) and is checked again next time.
// Knotes are pooled and per-descriptor slots are a vector indexed by fd, so a steady state of
// add/delete/wait allocates nothing once warm (the core's no-allocation test runs over this).
#include "netpoll/backends/kqueue/testing/kqueue_double.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "netpoll/backends/epoll/epoll_pwait2.h"

namespace netpoll::kqueue_double {
namespace {

std::atomic<bool> g_user_filter_supported{true};

// The manual's BUGS section: longer timeouts are silently treated as 24 hours.
constexpr std::int64_t kMaxTimeoutNs = 24LL * 3600 * 1000000000;
constexpr std::int64_t kInfinite = -1;
constexpr int kHarvestBatch = 64;

// Outer-set tags; inner sets carry (generation << 32 | fd) instead.
constexpr std::uint64_t kTagRead = 1, kTagWrite = 2, kTagKick = 3;

// What a descriptor is decides how its filters read its state.
enum class Kind : std::uint8_t { socket, pipe, file, other };

struct Knote {
  // As registered.
  uintptr_t ident = 0;
  short filter = 0;
  unsigned short flags = 0;  // the caller's flags minus the one-shot actions
  unsigned sfflags = 0;
  std::int64_t sdata = 0;
  void* udata = nullptr;
  std::uint64_t ext[4] = {};
  // Descriptor filters: what the descriptor named at registration, to notice a close.
  Kind kind = Kind::other;
  dev_t dev = 0;
  ino_t ino = 0;
  std::uint32_t gen = 0;
  // State.
  bool queued = false;
  bool disabled = false;
  bool triggered = false;  // EVFILT_USER
  // The last evaluation, copied out with the kevent.
  unsigned short eof = 0;
  unsigned fflags = 0;
  std::int64_t data = 0;
  Knote* prev = nullptr;  // active queue links; `next` also links the free list
  Knote* next = nullptr;
};

enum class Verdict { report, quiet, closed };

std::int64_t now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int slot_of(short filter) { return filter == EVFILT_READ ? 0 : 1; }

class Kq {
 public:
  // nullptr with errno set if a descriptor cannot be made.
  static Kq* create();
  ~Kq();
  int fd() const { return outer_; }
  int kevent(const struct kevent* changes, int nchanges, struct kevent* out, int nevents,
             const timespec* timeout);

 private:
  Kq() = default;
  int apply(const struct kevent& kev);
  int apply_descriptor(const struct kevent& kev);
  int apply_user(const struct kevent& kev);
  void apply_enable(Knote* kn, unsigned short flags);
  int collect(struct kevent* out, int nevents, std::int64_t timeout_ns,
              std::unique_lock<std::mutex>& lock);
  int scan(struct kevent* out, int nevents);
  void harvest(int inner, int slot);
  Verdict evaluate(Knote& kn);
  Verdict evaluate_descriptor(Knote& kn);
  void activate(Knote* kn);
  void enqueue(Knote* kn);
  void unqueue(Knote* kn);
  Knote* lookup(int fd, int slot) const;
  void remove(Knote* kn);
  void drop_descriptor(int fd);
  Knote* alloc();
  void release(Knote* kn);
  void update_kick();

  std::mutex mu_;
  int outer_ = -1, rd_ = -1, wr_ = -1, kick_ = -1;
  bool kick_armed_ = false;
  struct Slots {
    Knote* k[2] = {nullptr, nullptr};  // [0] EVFILT_READ, [1] EVFILT_WRITE
  };
  std::vector<Slots> fds_;      // indexed by descriptor
  std::vector<Knote*> users_;   // EVFILT_USER kevents (few; linear search)
  std::vector<std::unique_ptr<Knote>> storage_;
  Knote* free_ = nullptr;
  Knote* head_ = nullptr;
  Knote* tail_ = nullptr;
  std::size_t queued_ = 0;
  std::uint32_t next_gen_ = 0;
};

// kqueue descriptor -> Kq. Never destroyed: a poller destroyed during static destruction still
// finds it, and what it points to stays reachable for the leak checker until closed.
struct Registry {
  std::mutex mu;
  std::vector<Kq*> by_fd;
};
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

Kq* find(int fd) {
  Registry& r = registry();
  std::lock_guard<std::mutex> g(r.mu);
  if (fd < 0 || static_cast<std::size_t>(fd) >= r.by_fd.size()) return nullptr;
  return r.by_fd[static_cast<std::size_t>(fd)];
}

Kq* Kq::create() {
  std::unique_ptr<Kq> kq(new Kq);
  // Not close-on-exec: a BSD kqueue is simply not inherited by fork(2), which Linux cannot
  // mimic; the backend sets FD_CLOEXEC itself and the conformance suite checks that it did.
  kq->outer_ = epoll_create1(0);
  if (kq->outer_ < 0) return nullptr;
  kq->rd_ = epoll_create1(EPOLL_CLOEXEC);
  if (kq->rd_ < 0) return nullptr;
  kq->wr_ = epoll_create1(EPOLL_CLOEXEC);
  if (kq->wr_ < 0) return nullptr;
  kq->kick_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (kq->kick_ < 0) return nullptr;
  const std::pair<int, std::uint64_t> members[] = {
      {kq->rd_, kTagRead}, {kq->wr_, kTagWrite}, {kq->kick_, kTagKick}};
  for (auto [fd, tag] : members) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag;
    if (epoll_ctl(kq->outer_, EPOLL_CTL_ADD, fd, &ev) != 0) return nullptr;
  }
  return kq.release();
}

Kq::~Kq() {
  const int saved = errno;  // a failed create() reports its own errno after this runs
  for (int fd : {kick_, wr_, rd_, outer_})
    if (fd >= 0) close(fd);
  errno = saved;
}

Knote* Kq::alloc() {
  if (free_ == nullptr) {
    storage_.push_back(std::make_unique<Knote>());
    return storage_.back().get();
  }
  Knote* kn = free_;
  free_ = kn->next;
  *kn = Knote{};
  return kn;
}

void Kq::release(Knote* kn) {
  kn->next = free_;
  free_ = kn;
}

void Kq::enqueue(Knote* kn) {
  kn->queued = true;
  kn->prev = tail_;
  kn->next = nullptr;
  (tail_ ? tail_->next : head_) = kn;
  tail_ = kn;
  ++queued_;
}

void Kq::unqueue(Knote* kn) {
  if (!kn->queued) return;
  (kn->prev ? kn->prev->next : head_) = kn->next;
  (kn->next ? kn->next->prev : tail_) = kn->prev;
  kn->prev = kn->next = nullptr;
  kn->queued = false;
  --queued_;
}

// Several triggers before a retrieval make one kevent (the manual: events aggregate).
void Kq::activate(Knote* kn) {
  if (!kn->queued && !kn->disabled) enqueue(kn);
}

Knote* Kq::lookup(int fd, int slot) const {
  if (static_cast<std::size_t>(fd) >= fds_.size()) return nullptr;
  return fds_[static_cast<std::size_t>(fd)].k[slot];
}

void Kq::remove(Knote* kn) {
  unqueue(kn);
  if (kn->filter == EVFILT_USER) {
    for (auto& u : users_)
      if (u == kn) {
        u = users_.back();
        users_.pop_back();
        break;
      }
  } else {
    const int fd = static_cast<int>(kn->ident);
    const int slot = slot_of(kn->filter);
    fds_[static_cast<std::size_t>(fd)].k[slot] = nullptr;
    if (kn->kind != Kind::file) {
      // ENOENT/EBADF: the descriptor was closed and the kernel already forgot it. A stale
      // item that outlives this (its file kept open by a dup) carries an old generation, and
      // harvest() ignores it.
      epoll_ctl(slot == 0 ? rd_ : wr_, EPOLL_CTL_DEL, fd, nullptr);
    }
  }
  release(kn);
}

// "Calling close() on a file descriptor will remove any kevents that reference the
// descriptor": done here, when the double first notices the close.
void Kq::drop_descriptor(int fd) {
  for (int slot = 0; slot < 2; ++slot)
    if (Knote* kn = lookup(fd, slot)) remove(kn);
}

void Kq::update_kick() {
  const bool want = head_ != nullptr;
  if (want == kick_armed_) return;
  std::uint64_t v = 1;
  // Only this function writes or reads kick_, under mu_, so the counter is 0 or 1 and neither
  // call can block or fail short of a corrupt descriptor.
  const ssize_t n = want ? write(kick_, &v, sizeof v) : read(kick_, &v, sizeof v);
  if (n == static_cast<ssize_t>(sizeof v)) kick_armed_ = want;
}

void Kq::apply_enable(Knote* kn, unsigned short flags) {
  if (flags & EV_DISABLE) {
    kn->disabled = true;
    unqueue(kn);
  } else if (flags & (EV_ADD | EV_ENABLE)) {
    kn->disabled = false;
  }
  // "The filter is executed upon the initial registration of a kevent in order to detect
  // whether a preexisting condition is present"; re-enabling does the same.
  if ((flags & (EV_ADD | EV_ENABLE)) && !kn->disabled) {
    const Verdict v = evaluate(*kn);
    if (v == Verdict::report) activate(kn);
  }
}

int Kq::apply(const struct kevent& kev) {
  switch (kev.filter) {
    case EVFILT_READ:
    case EVFILT_WRITE:
      return apply_descriptor(kev);
    case EVFILT_USER:
      if (g_user_filter_supported.load(std::memory_order_relaxed)) return apply_user(kev);
      return EINVAL;
    default:
      return EINVAL;  // "The specified ... filter is invalid."
  }
}

int Kq::apply_descriptor(const struct kevent& kev) {
  if (kev.ident > static_cast<uintptr_t>(INT_MAX)) return EBADF;
  const int fd = static_cast<int>(kev.ident);
  const int slot = slot_of(kev.filter);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    drop_descriptor(fd);
    return EBADF;
  }
  Knote* kn = lookup(fd, slot);
  Knote* other = lookup(fd, 1 - slot);
  for (Knote* k : {kn, other}) {
    if (k && (k->dev != st.st_dev || k->ino != st.st_ino)) {
      drop_descriptor(fd);  // the number was closed and reused since it was registered
      kn = nullptr;
      break;
    }
  }
  if (kev.flags & EV_DELETE) {
    if (!kn) return ENOENT;
    remove(kn);
    return 0;
  }
  if (!kn && !(kev.flags & EV_ADD)) return ENOENT;
  if (!kn) {
    Kind kind = Kind::other;
    if (S_ISSOCK(st.st_mode)) kind = Kind::socket;
    else if (S_ISFIFO(st.st_mode)) kind = Kind::pipe;
    else if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) kind = Kind::file;
    // "Note that this filter is not supported for vnodes".
    if (kind == Kind::file && kev.filter == EVFILT_WRITE) return EINVAL;
    // Beyond the manual, as FreeBSD's pipe_kqfilter (and macOS) do: a pipe whose other end is
    // gone refuses EVFILT_WRITE with EPIPE. Linux shows that as POLLERR on the write end.
    if (kind == Kind::pipe && kev.filter == EVFILT_WRITE) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) return EPIPE;
    }
    kn = alloc();
    kn->ident = kev.ident;
    kn->filter = kev.filter;
    kn->kind = kind;
    kn->dev = st.st_dev;
    kn->ino = st.st_ino;
    kn->gen = ++next_gen_;
    if (kind != Kind::file) {
      // Regular files never reach epoll (it refuses them); their filter is run only on
      // registration and retrieval, so a file that grows later does not wake a waiting kevent.
      epoll_event ev{};
      ev.events = slot == 0 ? (EPOLLIN | EPOLLRDHUP | EPOLLET) : (EPOLLOUT | EPOLLET);
      ev.data.u64 = (static_cast<std::uint64_t>(kn->gen) << 32) | static_cast<std::uint32_t>(fd);
      const int inner = slot == 0 ? rd_ : wr_;
      int rc = epoll_ctl(inner, EPOLL_CTL_ADD, fd, &ev);
      // EEXIST: an item left by an earlier registration whose delete failed; take it over.
      if (rc != 0 && errno == EEXIST) rc = epoll_ctl(inner, EPOLL_CTL_MOD, fd, &ev);
      if (rc != 0) {
        const int err = errno;
        release(kn);
        return err == EPERM ? EINVAL : err;  // EPERM: a descriptor with no poll support
      }
    }
    if (fds_.size() <= static_cast<std::size_t>(fd)) fds_.resize(static_cast<std::size_t>(fd) + 1);
    fds_[static_cast<std::size_t>(fd)].k[slot] = kn;
  }
  if (kev.flags & EV_ADD) {
    // "Re-adding an existing event will modify the parameters of the original event".
    kn->flags = kev.flags & (EV_ADD | EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH);
    kn->sfflags = kev.fflags;
    kn->sdata = kev.data;
    kn->udata = kev.udata;
    for (int i = 0; i < 4; ++i) kn->ext[i] = kev.ext[i];
  }
  apply_enable(kn, kev.flags);
  return 0;
}

int Kq::apply_user(const struct kevent& kev) {
  Knote* kn = nullptr;
  for (Knote* u : users_)
    if (u->ident == kev.ident) kn = u;
  if (kev.flags & EV_DELETE) {
    if (!kn) return ENOENT;
    remove(kn);
    return 0;
  }
  if (!kn) {
    if (!(kev.flags & EV_ADD)) return ENOENT;
    kn = alloc();
    kn->ident = kev.ident;
    kn->filter = EVFILT_USER;
    users_.push_back(kn);
  }
  if (kev.flags & EV_ADD) {
    kn->flags = kev.flags & (EV_ADD | EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH);
    kn->udata = kev.udata;
    for (int i = 0; i < 4; ++i) kn->ext[i] = kev.ext[i];
  }
  // The lower 24 bits are the user's flags, combined as the control bits say.
  const unsigned ff = kev.fflags & NOTE_FFLAGSMASK;
  switch (kev.fflags & NOTE_FFCTRLMASK) {
    case NOTE_FFAND: kn->sfflags &= ff; break;
    case NOTE_FFOR: kn->sfflags |= ff; break;
    case NOTE_FFCOPY: kn->sfflags = ff; break;
    default: break;  // NOTE_FFNOP
  }
  kn->sdata = kev.data;
  if (kev.fflags & NOTE_TRIGGER) kn->triggered = true;
  apply_enable(kn, kev.flags);
  // A trigger alone (no EV_ADD/EV_ENABLE) still queues the kevent.
  if (kn->triggered) activate(kn);
  return 0;
}

Verdict Kq::evaluate(Knote& kn) {
  if (kn.filter != EVFILT_USER) return evaluate_descriptor(kn);
  kn.eof = 0;
  kn.fflags = kn.sfflags & NOTE_FFLAGSMASK;
  kn.data = kn.sdata;
  return kn.triggered ? Verdict::report : Verdict::quiet;
}

Verdict Kq::evaluate_descriptor(Knote& kn) {
  const int fd = static_cast<int>(kn.ident);
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != kn.dev || st.st_ino != kn.ino) return Verdict::closed;
  kn.eof = 0;
  kn.fflags = 0;
  kn.data = 0;
  if (kn.kind == Kind::file) {
    // "Returns when the file pointer is not at the end of file. data contains the offset from
    // current position to end of file, and may be negative."
    const off_t pos = lseek(fd, 0, SEEK_CUR);
    kn.data = static_cast<std::int64_t>(st.st_size) - (pos < 0 ? 0 : pos);
    return kn.data != 0 ? Verdict::report : Verdict::quiet;
  }
  pollfd p{fd, static_cast<short>(POLLIN | POLLOUT | POLLRDHUP), 0};
  if (poll(&p, 1, 0) < 0) return Verdict::quiet;
  const short re = p.revents;
  if (re & POLLNVAL) return Verdict::closed;
  // A socket error travels in fflags with EV_EOF; see kUnreadSocketError.
  const bool sock_error = kn.kind == Kind::socket && (re & POLLERR);
  if (kn.filter == EVFILT_READ) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (kn.kind == Kind::socket &&
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening) {
      // "data contains the size of the listen backlog": the connections waiting in it.
      tcp_info ti{};
      len = sizeof ti;
      if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) kn.data = ti.tcpi_unacked;
      if (kn.data == 0 && (re & POLLIN)) kn.data = 1;  // not TCP: at least one is pending
      return (re & POLLIN) ? Verdict::report : Verdict::quiet;
    }
    int avail = 0;
    if (ioctl(fd, FIONREAD, &avail) == 0) kn.data = avail;
    // The read direction is shut: the peer's FIN or close, or the other end of a pipe gone
    // (POLLHUP on a read end, POLLERR on a write end, whose EVFILT_READ FreeBSD also ends
    // with EV_EOF when the reader leaves).
    const short shut = kn.kind == Kind::pipe ? (POLLHUP | POLLERR) : (POLLRDHUP | POLLHUP);
    if (re & shut) {
      kn.eof = EV_EOF;
      if (sock_error) kn.fflags = kUnreadSocketError;
    }
    return (kn.data > 0 || kn.eof || (re & (POLLIN | POLLERR))) ? Verdict::report : Verdict::quiet;
  }
  // EVFILT_WRITE: data is the room left in the send buffer (pipe buffer for a pipe).
  int queued = 0;
  if (kn.kind == Kind::socket) {
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0 &&
        ioctl(fd, SIOCOUTQ, &queued) == 0)
      kn.data = sndbuf > queued ? sndbuf - queued : 0;
  } else if (kn.kind == Kind::pipe) {
    const int size = fcntl(fd, F_GETPIPE_SZ);
    if (size > 0 && ioctl(fd, FIONREAD, &queued) == 0) kn.data = size > queued ? size - queued : 0;
  }
  // "The filter will set EV_EOF when the reader disconnects": HUP for a socket that can no
  // longer send, ERR for a pipe with no reader left.
  if (re & (POLLHUP | POLLERR)) {
    kn.eof = EV_EOF;
    if (sock_error) kn.fflags = kUnreadSocketError;
  }
  return ((re & POLLOUT) || kn.eof) ? Verdict::report : Verdict::quiet;
}

// Moves the inner set's edges onto the active queue.
void Kq::harvest(int inner, int slot) {
  epoll_event evs[kHarvestBatch];
  for (;;) {
    const int n = epoll_wait(inner, evs, kHarvestBatch, 0);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      const int fd = static_cast<int>(evs[i].data.u64 & 0xffffffffu);
      const auto gen = static_cast<std::uint32_t>(evs[i].data.u64 >> 32);
      Knote* kn = lookup(fd, slot);
      if (kn && kn->gen == gen) activate(kn);
    }
    if (n < kHarvestBatch) return;
  }
}

int Kq::scan(struct kevent* out, int nevents) {
  int count = 0;
  // Each queued knote is looked at once: level-triggered ones go back to the tail. (Dropping
  // a closed descriptor may unqueue its other knote too, hence the head_ test.)
  for (std::size_t budget = queued_; budget > 0 && head_ && count < nevents; --budget) {
    Knote* kn = head_;
    unqueue(kn);
    const Verdict v = evaluate(*kn);
    if (v == Verdict::closed) {
      drop_descriptor(static_cast<int>(kn->ident));
      continue;
    }
    if (v == Verdict::quiet) continue;  // the condition went away before retrieval
    struct kevent& ev = out[count++];
    ev.ident = kn->ident;
    ev.filter = kn->filter;
    ev.flags = static_cast<unsigned short>(kn->flags | kn->eof);
    ev.fflags = kn->fflags;
    ev.data = kn->data;
    ev.udata = kn->udata;
    for (int i = 0; i < 4; ++i) ev.ext[i] = kn->ext[i];
    if (kn->flags & EV_ONESHOT) {
      remove(kn);
      continue;
    }
    if (kn->flags & EV_DISPATCH) kn->disabled = true;
    if (kn->flags & EV_CLEAR) {
      kn->triggered = false;  // EVFILT_USER; descriptor filters re-arm on their next edge
      continue;
    }
    if (!kn->disabled) enqueue(kn);
  }
  return count;
}

int Kq::collect(struct kevent* out, int nevents, std::int64_t timeout_ns,
                std::unique_lock<std::mutex>& lock) {
  const std::int64_t deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
  for (;;) {
    update_kick();  // a non-empty queue makes the outer wait return at once
    epoll_event ready[3];
    lock.unlock();
    int n;
    if (timeout_ns == kInfinite) {
      n = epoll_wait(outer_, ready, 3, -1);
    } else {
      const timespec ts{static_cast<time_t>(timeout_ns / 1000000000),
                        static_cast<long>(timeout_ns % 1000000000)};
      n = epoll_sys::pwait2(outer_, ready, 3, &ts);
      if (n < 0 && (errno == ENOSYS || errno == EPERM)) {  // kernel < 5.11 or seccomp: ms, rounded up
        const std::int64_t ms = timeout_ns / 1000000 + (timeout_ns % 1000000 != 0);
        n = epoll_wait(outer_, ready, 3, static_cast<int>(std::min<std::int64_t>(ms, INT_MAX)));
      }
    }
    const int err = errno;
    lock.lock();
    if (n < 0) {
      errno = err;  // EINTR: "A signal was delivered before the timeout expired"
      return -1;
    }
    for (int i = 0; i < n; ++i) {
      if (ready[i].data.u64 == kTagRead) harvest(rd_, 0);
      if (ready[i].data.u64 == kTagWrite) harvest(wr_, 1);
    }
    const int count = scan(out, nevents);
    if (count > 0 || timeout_ns == 0) return count;
    if (timeout_ns != kInfinite) {
      // Every edge turned out stale: wait out the rest of the timeout.
      timeout_ns = deadline - now_ns();
      if (timeout_ns <= 0) return 0;
    }
  }
}

int Kq::kevent(const struct kevent* changes, int nchanges, struct kevent* out, int nevents,
               const timespec* timeout) {
  if (nchanges < 0 || nevents < 0 || (nchanges > 0 && !changes) || (nevents > 0 && !out)) {
    errno = EINVAL;
    return -1;
  }
  std::unique_lock<std::mutex> lock(mu_);
  int placed = 0;
  int result = 0;
  // "All changes contained in the changelist are applied before any pending events are read".
  for (int i = 0; i < nchanges; ++i) {
    struct kevent kev = changes[i];  // a copy: the same array may serve as the eventlist
    const int err = apply(kev);
    if (err == 0 && !(kev.flags & EV_RECEIPT)) continue;
    if (placed == nevents) {
      // No room for the EV_ERROR entry: an error fails the call, a receipt stops processing.
      update_kick();
      if (err == 0) return placed;
      errno = err;
      return -1;
    }
    kev.flags = EV_ERROR;
    kev.data = err;
    out[placed++] = kev;
  }
  if (placed > 0 || nevents == 0) {
    // Receipts or errors are returned without draining pending events (EV_RECEIPT's purpose);
    // "When nevents is zero, kevent() will return immediately".
    result = placed;
  } else if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
                         timeout->tv_nsec >= 1000000000)) {
    errno = EINVAL;
    result = -1;
  } else {
    std::int64_t ns = kInfinite;
    if (timeout) {
      ns = timeout->tv_sec >= kMaxTimeoutNs / 1000000000
               ? kMaxTimeoutNs
               : std::min<std::int64_t>(kMaxTimeoutNs,
                                        timeout->tv_sec * 1000000000LL + timeout->tv_nsec);
    }
    result = collect(out, nevents, ns, lock);
  }
  const int err = errno;
  update_kick();
  errno = err;
  return result;
}

}  // namespace

int close_kqueue(int kq) noexcept {
  Kq* state = nullptr;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> g(r.mu);
    if (kq >= 0 && static_cast<std::size_t>(kq) < r.by_fd.size())
      state = std::exchange(r.by_fd[static_cast<std::size_t>(kq)], nullptr);
  }
  if (!state) return close(kq);
  delete state;  // closes the kqueue descriptor with its inner sets
  return 0;
}

void set_user_filter_supported(bool supported) noexcept {
  g_user_filter_supported.store(supported, std::memory_order_relaxed);
}

}  // namespace netpoll::kqueue_double

int kqueue(void) noexcept {
  using netpoll::kqueue_double::Kq;
  Kq* kq = Kq::create();
  if (!kq) return -1;
  auto& r = netpoll::kqueue_double::registry();
  std::lock_guard<std::mutex> g(r.mu);
  const auto fd = static_cast<std::size_t>(kq->fd());
  if (r.by_fd.size() <= fd) r.by_fd.resize(fd + 1, nullptr);
  r.by_fd[fd] = kq;
  return kq->fd();
}

int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist,
           int nevents, const struct timespec* timeout) noexcept {
  netpoll::kqueue_double::Kq* state = netpoll::kqueue_double::find(kq);
  if (!state) {
    errno = EBADF;
    return -1;
  }
  return state->kevent(changelist, nchanges, eventlist, nevents, timeout);
}
