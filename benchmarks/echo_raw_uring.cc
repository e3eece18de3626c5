// raw_uring: the io_uring floor of the echo servers (echo_servers.h), hand-written on liburing
// with nothing of netpoll's: the best a careful io_uring echo loop does, as raw is epoll's.
//
// Its choices, each for the fewest syscalls and the least work per message:
//   - the ring: IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (completions run only
//     when this thread waits, never as interrupting task work), falling back to
//     SINGLE_ISSUER | COOP_TASKRUN, then to no flags, if the kernel refuses (the flags in use
//     are part of the error text should anything fail); the ring fd is registered
//     (io_uring_register_ring_fd) so each io_uring_enter skips the fd lookup;
//   - one syscall per loop turn: io_uring_submit_and_wait(1) submits everything queued by the
//     previous turn's completions and waits for the next; each io_uring_enter counts as one
//     syscall, as do the setsockopt(TCP_NODELAY) per accepted connection and the listener's
//     close;
//   - one multishot accept on the listener (re-armed only if the kernel ends it);
//   - reads into a provided-buffer ring (IORING_REGISTER_PBUF_RING, kBuffers x kReadBuf, as
//     libuv's alloc_cb hands out 64 KiB): a connection holds no buffer while idle (B5), the
//     kernel picks one when bytes arrive;
//   - an echo is one send linked to the connection's next recv (IOSQE_IO_LINK): the send
//     carries MSG_WAITALL, so a short send fails the link instead of silently ending it, and
//     IOSQE_CQE_SKIP_SUCCESS, so a successful send posts no completion at all; the next
//     recv's completion is then the proof the send finished, and its buffer goes back to the
//     ring. Per round trip: one completion, and the two SQEs ride the same io_uring_enter;
//   - that recv carries IORING_RECVSEND_POLL_FIRST: the peer answers only after reading the
//     echo, so a first recv attempt would fail; arming the poll at once saves it (B1: 219k ->
//     238k round trips/s, 2.34 -> 2.16 us of server CPU each);
//   - end of stream: IORING_OP_CLOSE, also completion-less on success;
//   - recv stays single-shot: a multishot recv would keep reading while an echo is in
//     flight, and two sends in flight on one socket may complete out of order.
// Not used: registered (direct) descriptors, since TCP_NODELAY then needs the socket
// URING_CMD setsockopt this liburing (2.3) has no helper for; zero-copy send (a loss for
// small messages).
//
// If the buffer ring runs dry (more connections with bytes in flight than kBuffers), a recv
// completes with -ENOBUFS; that connection waits in a queue and gets its recv again once a
// buffer comes back.
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "benchmarks/echo_server_shared.h"
#include "netpoll/net/net.h"

namespace netpoll::bench {
namespace {

// Submission queue: B2's 500 connections queue two SQEs per echo (send + recv), so one turn
// can queue 1,000; a full queue is submitted early (one more enter), never lost.
constexpr unsigned kEntries = 1024;
// Completion queue: B5's 19,000 accepts may complete in one turn; what does not fit waits in
// the kernel's overflow list (IORING_FEAT_NODROP) and is flushed by the next enter.
constexpr unsigned kCqEntries = 8192;
// Provided buffers, kReadBuf each, mapped but untouched until the kernel fills one: a
// connection holds at most two at once (its echo's and its next recv's), so B2's 500
// connections fit; more wait on the -ENOBUFS queue.
constexpr unsigned kBuffers = 1024;
constexpr int kGroup = 0;              // their buffer group
constexpr bool kPollFirst = true;      // IORING_RECVSEND_POLL_FIRST on the recv after an echo

// user_data: a connection pointer (8-aligned) with the operation in its low bits, or a tag.
enum Op : std::uint64_t { kRecv = 1, kSend = 2 };
constexpr std::uint64_t kAcceptTag = 8, kWakeTag = 16, kCloseTag = 24, kCancelTag = 32;

struct UConn {
  int fd;
  int send_bid = -1;  // the buffer of the echo in flight (linked before the pending recv)
  bool send_failed = false;
};

class RawUringServer {
 public:
  explicit RawUringServer(EchoServer::Shared& sh) : sh_(sh) {}
  void run();

 private:
  bool setup_ring();
  bool setup_buffers();
  io_uring_sqe* sqe();
  void arm_accept();
  void arm_wake();
  void arm_recv(UConn* c, bool poll_first = false);
  void give_back(int bid);
  void on_accept(const io_uring_cqe* cqe);
  void on_recv(UConn* c, const io_uring_cqe* cqe);
  void close_conn(UConn* c);
  void close_listener();
  void check_finish();

  EchoServer::Shared& sh_;
  io_uring ring_{};
  bool ring_ok_ = false;
  std::string flags_;  // which setup flags the kernel took, for messages
  io_uring_buf_ring* br_ = nullptr;
  std::size_t br_bytes_ = 0;
  char* pool_ = nullptr;  // kBuffers x kReadBuf, mmapped
  static constexpr std::size_t kPoolBytes = std::size_t(kBuffers) * kReadBuf;
  int lfd_ = -1, wfd_ = -1;
  bool accept_armed_ = false;
  std::uint64_t wake_value_ = 0;
  std::int64_t sys_ = 0;
  bool done_ = false;
  std::deque<UConn*> starved_;  // recv got -ENOBUFS: waiting for a buffer
};

bool RawUringServer::setup_ring() {
  struct Try {
    unsigned flags;
    const char* name;
  };
  const Try tries[] = {{IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "SINGLE_ISSUER|DEFER_TASKRUN"},
                       {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, "SINGLE_ISSUER|COOP_TASKRUN"},
                       {0, "no flags"}};
  int e = 0;
  for (const Try& t : tries) {
    io_uring_params p{};
    p.flags = t.flags | IORING_SETUP_CQSIZE;
    p.cq_entries = kCqEntries;
    e = io_uring_queue_init_params(kEntries, &ring_, &p);
    if (e == 0) {
      flags_ = t.name;
      if (t.flags == 0 || !(t.flags & IORING_SETUP_DEFER_TASKRUN))
        std::fprintf(stderr, "raw_uring: the kernel refused DEFER_TASKRUN; running with %s\n", t.name);
      ring_ok_ = true;
      // Cheap and optional: without it each enter looks the ring's fd up.
      if (io_uring_register_ring_fd(&ring_) < 0) flags_ += ", ring fd not registered";
      return true;
    }
  }
  sh_.listening(0, std::string("raw_uring io_uring_queue_init: ") + std::strerror(-e));
  return false;
}

bool RawUringServer::setup_buffers() {
  br_bytes_ = sizeof(io_uring_buf) * kBuffers;
  void* mem = ::mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return false;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(br_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = kBuffers;
  reg.bgid = kGroup;
  if (const int e = io_uring_register_buf_ring(&ring_, &reg, 0); e != 0) {
    errno = -e;
    return false;
  }
  void* pool = ::mmap(nullptr, kPoolBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pool == MAP_FAILED) return false;
  pool_ = static_cast<char*>(pool);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned i = 0; i < kBuffers; ++i)
    io_uring_buf_ring_add(br_, pool_ + std::size_t(i) * kReadBuf, kReadBuf, static_cast<unsigned short>(i),
                          mask, static_cast<int>(i));
  io_uring_buf_ring_advance(br_, kBuffers);
  return true;
}

// The next free SQE; a full submission queue is submitted first (one more enter).
io_uring_sqe* RawUringServer::sqe() {
  for (;;) {
    if (io_uring_sqe* s = io_uring_get_sqe(&ring_)) return s;
    ++sys_;
    (void)io_uring_submit(&ring_);
  }
}

void RawUringServer::arm_accept() {
  io_uring_sqe* s = sqe();
  io_uring_prep_multishot_accept(s, lfd_, nullptr, nullptr, SOCK_CLOEXEC);
  io_uring_sqe_set_data64(s, kAcceptTag);
  accept_armed_ = true;
}

void RawUringServer::arm_wake() {
  io_uring_sqe* s = sqe();
  io_uring_prep_read(s, wfd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(s, kWakeTag);
}

void RawUringServer::arm_recv(UConn* c, bool poll_first) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv(s, c->fd, nullptr, kReadBuf, 0);
  if (poll_first) s->ioprio |= IORING_RECVSEND_POLL_FIRST;
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | kRecv);
}

void RawUringServer::give_back(int bid) {
  io_uring_buf_ring_add(br_, pool_ + std::size_t(bid) * kReadBuf, kReadBuf, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(kBuffers), 0);
  io_uring_buf_ring_advance(br_, 1);
  if (!starved_.empty()) {
    UConn* c = starved_.front();
    starved_.pop_front();
    arm_recv(c);
  }
}

void RawUringServer::run() {
  if (!setup_ring()) return;
  wfd_ = ::eventfd(0, EFD_CLOEXEC);
  lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (wfd_ < 0 || lfd_ < 0 || !setup_buffers() || ::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(lfd_, net::listener_backlog()) != 0 || ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    sh_.listening(0, errno_text("raw_uring listen"));
  } else {
    const int wfd = wfd_;
    sh_.set_wake([wfd] {
      const std::uint64_t one = 1;
      (void)!::write(wfd, &one, sizeof one);
    });
    arm_accept();
    arm_wake();
    if (sh_.cfg.conns == 0) sh_.begin_measure(0);
    sh_.listening(ntohs(a.sin_port));
    while (!done_) {
      ++sys_;
      const int r = io_uring_submit_and_wait(&ring_, 1);
      // EINTR: a signal (the profiler's); EAGAIN / EBUSY: the kernel could not take more
      // submissions until completions are reaped, which this turn does.
      if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
        sh_.error(std::string("raw_uring io_uring_submit_and_wait (") + flags_ + "): " + std::strerror(-r));
        break;
      }
      unsigned head, seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        const std::uint64_t d = io_uring_cqe_get_data64(cqe);
        if (d == kAcceptTag) {
          on_accept(cqe);
        } else if (d == kWakeTag) {
          if (cqe->res < 0 && cqe->res != -ECANCELED) sh_.error(std::string("raw_uring wake read: ") + std::strerror(-cqe->res));
          check_finish();
          if (!done_ && cqe->res >= 0) arm_wake();
        } else if (d == kCloseTag) {
          sh_.error(std::string("raw_uring close: ") + std::strerror(-cqe->res));  // only failures post
        } else if (d == kCancelTag) {
          // The accept's cancellation: its own -ECANCELED completion says it is gone.
        } else {
          UConn* c = reinterpret_cast<UConn*>(d & ~std::uint64_t{7});
          if ((d & 7) == kRecv) {
            on_recv(c, cqe);
          } else {  // kSend: only a failure posts (CQE_SKIP_SUCCESS); the linked recv is cancelled
            c->send_failed = true;
            sh_.error(cqe->res < 0 ? std::string("raw_uring send: ") + std::strerror(-cqe->res)
                                   : "raw_uring send: short send of a MSG_WAITALL echo");
          }
        }
      }
      io_uring_cq_advance(&ring_, seen);
    }
    sh_.end_measure(sys_);
  }
  sh_.set_wake(nullptr);
  close_listener();
  // No recv is in flight (every connection is closed) and nothing writes the eventfd any more
  // (set_wake(nullptr)), so the wake read the ring's teardown cancels cannot complete into
  // wake_value_, and no buffer below is in the kernel's hands.
  if (ring_ok_) io_uring_queue_exit(&ring_);
  if (br_) ::munmap(br_, br_bytes_);
  if (pool_) ::munmap(pool_, kPoolBytes);
  if (wfd_ >= 0) ::close(wfd_);
}

void RawUringServer::on_accept(const io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) accept_armed_ = false;
  if (cqe->res < 0) {
    // ECANCELED: close_listener's cancellation; ECONNABORTED: a client gave up before its
    // accept (not in these benchmarks, and harmless); EINTR: retried by the multishot.
    if (cqe->res != -ECANCELED && cqe->res != -ECONNABORTED && cqe->res != -EINTR) {
      sh_.error(std::string("raw_uring accept: ") + std::strerror(-cqe->res));
      close_listener();
      return;
    }
  } else {
    const int fd = cqe->res;
    const int one = 1;
    ++sys_;
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) sh_.error(errno_text("raw_uring TCP_NODELAY"));
    auto* c = new UConn{fd};
    arm_recv(c);
    if (sh_.accepted_one(sys_)) close_listener();
  }
  if (!accept_armed_ && lfd_ >= 0) arm_accept();  // the kernel ended the multishot
}

void RawUringServer::on_recv(UConn* c, const io_uring_cqe* cqe) {
  // The linked send before this recv is done (or failed, which cancelled this recv).
  if (c->send_bid >= 0) {
    give_back(c->send_bid);
    c->send_bid = -1;
  }
  const int res = cqe->res;
  if (res > 0) {
    if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
      sh_.error("raw_uring recv: no buffer selected");
      close_conn(c);
      return;
    }
    const int bid = static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    sh_.out.bytes += static_cast<std::uint64_t>(res);
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c->fd, pool_ + std::size_t(bid) * kReadBuf, static_cast<std::size_t>(res),
                       MSG_NOSIGNAL | MSG_WAITALL);
    s->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | kSend);
    c->send_bid = bid;
    // The next SQE, linked after the send. The peer answers an echo only after reading it, so
    // this recv would find nothing yet: it arms its poll at once (POLL_FIRST) instead of
    // failing a recv first.
    arm_recv(c, kPollFirst);
  } else if (res == 0 || c->send_failed) {
    close_conn(c);  // end of stream (or the echo failed: reported with the send's completion)
  } else if (res == -ENOBUFS) {
    starved_.push_back(c);
  } else if (res == -EINTR || res == -EAGAIN) {  // interrupted or spuriously woken: again
    arm_recv(c);
  } else {
    sh_.error(std::string("raw_uring recv: ") + std::strerror(-res));
    close_conn(c);
  }
}

void RawUringServer::close_conn(UConn* c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_close(s, c->fd);
  s->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(s, kCloseTag);
  delete c;
  ++sh_.out.closed;
  check_finish();
}

void RawUringServer::close_listener() {
  if (lfd_ < 0) return;
  if (accept_armed_) {
    // The ring holds the listener's file: cancel the multishot accept, or the socket would
    // go on accepting after close.
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, kAcceptTag, 0);
    io_uring_sqe_set_data64(s, kCancelTag);
    accept_armed_ = false;
  }
  ++sys_;
  ::close(lfd_);
  lfd_ = -1;
}

void RawUringServer::check_finish() {
  if (!sh_.finished()) return;
  sh_.set_wake(nullptr);
  close_listener();
  ++sys_;
  (void)io_uring_submit(&ring_);  // the last closes and the cancellation
  done_ = true;
}

}  // namespace

void serve_raw_uring(EchoServer::Shared& sh) { RawUringServer(sh).run(); }

}  // namespace netpoll::bench
