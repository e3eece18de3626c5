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
//   - one multishot recv per connection, armed once at accept, into a provided-buffer ring
//     (IORING_REGISTER_PBUF_RING, kBuffers x kReadBuf, as libuv's alloc_cb hands out 64 KiB):
//     no poll is armed again per message, and a connection holds no buffer while idle (B5):
//     the kernel picks one when bytes arrive;
//   - the echo: a send (MSG_WAITALL, so a short send is an error, never silently short) of the
//     received buffer, which goes back to the ring at the send's completion. One send in flight
//     per connection, as two could complete out of order; bytes that arrive meanwhile, or in
//     several completions of one batch, queue in arrival order and leave in one sendmsg of up
//     to kMaxIov buffers;
//   - end of stream: closed once every byte is echoed, through the ring (IORING_OP_CLOSE,
//     completion-less on success: IOSQE_CQE_SKIP_SUCCESS).
// What it costs: two io_uring_enter per round trip of a lone ping-pong (the send completes
// inline and its completion ends the wait), amortized over every ready connection when there
// are many. Measured against the alternative, a single-shot recv linked after each send
// (IOSQE_IO_LINK, the send CQE_SKIP_SUCCESS, the recv IORING_RECVSEND_POLL_FIRST: one enter per
// round trip): this is as fast in B1 (0.99x raw epoll there, against 0.98x) with less CPU per
// round trip (1.01x raw's against 1.04x), and ahead of raw epoll in B2's ping-pongs where the
// linked loop was behind on one CPU; the linked loop wins B2's pump (12-13.6 Gbit/s against
// 9.6: a multishot recv hands over each 8 KiB write as it lands, a recv after the send finds
// them accumulated), which both lose to raw epoll's read-until-short loop. The pump's gap
// looks like the buffer ring's order: it hands buffers out first in, first out, so a stream
// cycles through all of them and each recv lands in cache-cold memory, where raw epoll reads
// every message into one hot buffer (a ring of 64 buffers, 4 MiB, ran the pump at 12.6
// Gbit/s against 9.6 with 1,024, but starves 500 ping-pong connections; 1,024 of 16 KiB,
// 16 MiB, did not help).
// Incrementally consumed buffers (IOU_PBUF_RING_INC, kernel 6.12, after this liburing) would
// be the next step.
// Not used: registered (direct) descriptors, since TCP_NODELAY then needs the socket
// URING_CMD setsockopt this liburing (2.3) has no helper for; zero-copy send (a loss for
// small messages); recv bundles (kernel 6.10, after this liburing).
//
// If the buffer ring runs dry (more bytes in flight than kBuffers buffers hold), a recv
// completes with -ENOBUFS and ends its multishot; that connection waits in a queue, and every
// connection waiting there gets its recv again when a buffer comes back (checked with a ring
// of 16 buffers under B2: every workload completes, slowly).
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
// ping-pong connection holds one at a time (its echo's), so B2's 500 connections fit twice
// over; past them, recvs wait on the -ENOBUFS queue.
constexpr unsigned kBuffers = 1024;
constexpr int kGroup = 0;              // their buffer group

// user_data: a connection pointer (8-aligned) with the operation in its low bits, or a tag.
enum Op : std::uint64_t { kRecv = 1, kSend = 2 };
constexpr std::uint64_t kAcceptTag = 8, kWakeTag = 16, kCloseTag = 24, kCancelTag = 32;

// Buffers received and not yet echoed form a FIFO per connection, linked through the
// server's per-buffer arrays (next_, len_), so a connection costs the same few bytes whether
// idle or not. The head is the buffer of the send in flight, if one is.
// A send of several queued buffers at once (sendmsg): its header and vector live with the
// first buffer it sends (vecs_[head]), which is the send's while it is in flight, so a
// connection carries no pointer for it (B5: 24 bytes, one 32-byte malloc chunk).
constexpr int kMaxIov = 16;
struct SendVec {
  msghdr msg{};
  iovec iov[kMaxIov];
};

struct UConn {
  int fd;
  std::int32_t head = -1, tail = -1;
  std::uint8_t sending = 0;  // buffers from head the send in flight carries (0: none)
  bool recv_armed = false;   // its multishot recv
  bool eof = false;          // end of stream (or a failure): close once nothing is in flight
  bool failed = false;
  bool queued = false;       // in to_send_: its echo leaves after this batch of completions
};
static_assert(sizeof(UConn) <= 24, "an idle connection's whole state: one 32-byte malloc chunk");

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
  void arm_recv(UConn* c);
  void give_back(int bid);
  void send_head(UConn* c);
  void on_accept(const io_uring_cqe* cqe);
  void on_recv(UConn* c, const io_uring_cqe* cqe);
  void on_send(UConn* c, const io_uring_cqe* cqe);
  void fail_conn(UConn* c);
  void maybe_close(UConn* c);
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
  std::vector<std::int32_t> next_ = std::vector<std::int32_t>(kBuffers, -1);  // per buffer: the FIFO link
  std::vector<std::uint32_t> len_ = std::vector<std::uint32_t>(kBuffers, 0);  // per buffer: bytes received
  std::vector<SendVec> vecs_ = std::vector<SendVec>(kBuffers);                // per buffer: see SendVec
  static constexpr std::size_t kPoolBytes = std::size_t(kBuffers) * kReadBuf;
  int lfd_ = -1, wfd_ = -1;
  bool accept_armed_ = false;
  std::uint64_t wake_value_ = 0;
  std::int64_t sys_ = 0;
  bool done_ = false;
  std::deque<UConn*> starved_;  // recv got -ENOBUFS: waiting for a buffer
  std::vector<UConn*> to_send_;  // received bytes this batch and no send in flight
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

void RawUringServer::arm_recv(UConn* c) {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, c->fd, nullptr, 0, 0);
  c->recv_armed = true;
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kGroup;
  io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | kRecv);
}

void RawUringServer::give_back(int bid) {
  io_uring_buf_ring_add(br_, pool_ + std::size_t(bid) * kReadBuf, kReadBuf, static_cast<unsigned short>(bid),
                        io_uring_buf_ring_mask(kBuffers), 0);
  io_uring_buf_ring_advance(br_, 1);
  // Every starved connection gets its recv again, not just one: a recv takes a buffer only
  // when bytes arrive, so one re-armed connection may sit idle on it while the others (their
  // end of stream among what they wait for) would starve for good. Those that find the ring
  // dry again are back here with the next buffer.
  while (!starved_.empty()) {
    arm_recv(starved_.front());
    starved_.pop_front();
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
          if ((d & 7) == kRecv) on_recv(c, cqe);
          else on_send(c, cqe);
        }
      }
      io_uring_cq_advance(&ring_, seen);
      // The echoes of this batch: a connection whose bytes came in several completions of it
      // sends them all in one sendmsg.
      for (UConn* c : to_send_) {
        c->queued = false;
        if (!c->sending && !c->failed && c->head >= 0) send_head(c);
        maybe_close(c);
      }
      to_send_.clear();
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
  if (!(cqe->flags & IORING_CQE_F_MORE)) c->recv_armed = false;
  const int res = cqe->res;
  if (res > 0) {
    if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
      sh_.error("raw_uring recv: no buffer selected");
      fail_conn(c);
    } else {
      const int bid = static_cast<int>(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
      sh_.out.bytes += static_cast<std::uint64_t>(res);
      len_[bid] = static_cast<std::uint32_t>(res);
      next_[bid] = -1;
      if (c->tail >= 0) next_[c->tail] = bid;
      else c->head = bid;
      c->tail = bid;
      if (!c->sending && !c->failed && !c->queued) {
        c->queued = true;
        to_send_.push_back(c);
      }
    }
  } else if (res == 0) {
    c->eof = true;
  } else if (res == -ENOBUFS) {
    if (!c->recv_armed) starved_.push_back(c);  // re-armed when a buffer comes back
    return;
  } else if (res != -ECANCELED) {  // ECANCELED: fail_conn's cancellation
    sh_.error(std::string("raw_uring recv: ") + std::strerror(-res));
    fail_conn(c);
  }
  // The kernel may end a multishot on its own (e.g. an overflowing completion queue).
  if (!c->recv_armed && !c->eof) arm_recv(c);
  maybe_close(c);
}

// One send of what is queued: the head buffer alone, or up to kMaxIov of them in a sendmsg.
void RawUringServer::send_head(UConn* c) {
  io_uring_sqe* s = sqe();
  if (next_[c->head] < 0) {
    io_uring_prep_send(s, c->fd, pool_ + std::size_t(c->head) * kReadBuf, len_[c->head], MSG_NOSIGNAL | MSG_WAITALL);
    c->sending = 1;
  } else {
    SendVec& v = vecs_[static_cast<std::size_t>(c->head)];
    int n = 0;
    for (std::int32_t b = c->head; b >= 0 && n < kMaxIov; b = next_[b], ++n)
      v.iov[n] = iovec{pool_ + std::size_t(b) * kReadBuf, len_[b]};
    v.msg.msg_iov = v.iov;
    v.msg.msg_iovlen = static_cast<std::size_t>(n);
    io_uring_prep_sendmsg(s, c->fd, &v.msg, MSG_NOSIGNAL | MSG_WAITALL);
    c->sending = static_cast<std::uint8_t>(n);
  }
  io_uring_sqe_set_data64(s, reinterpret_cast<std::uint64_t>(c) | kSend);
}

void RawUringServer::on_send(UConn* c, const io_uring_cqe* cqe) {
  std::int64_t expected = 0;
  for (; c->sending > 0; --c->sending) {
    const int bid = c->head;
    expected += len_[bid];
    c->head = next_[bid];
    give_back(bid);
  }
  if (c->head < 0) c->tail = -1;
  const bool whole = cqe->res == expected;
  if (!whole || c->failed) {
    if (!whole)
      sh_.error(cqe->res < 0 ? std::string("raw_uring send: ") + std::strerror(-cqe->res)
                             : "raw_uring send: short send of a MSG_WAITALL echo");
    fail_conn(c);  // the rest of its queue goes back too
  } else if (c->head >= 0) {
    send_head(c);
  }
  maybe_close(c);
}

// Stops a connection that went wrong: its queued buffers go back, its recv is cancelled;
// maybe_close frees it once the kernel holds nothing of it.
void RawUringServer::fail_conn(UConn* c) {
  c->failed = c->eof = true;
  while (c->head >= 0 && !c->sending) {
    const int bid = c->head;
    c->head = next_[bid];
    give_back(bid);
  }
  if (c->head < 0) c->tail = -1;
  if (c->recv_armed) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel64(s, reinterpret_cast<std::uint64_t>(c) | kRecv, 0);
    io_uring_sqe_set_data64(s, kCancelTag);
  }
}

// End of stream: close once every byte received is echoed and no operation of the
// connection is in flight.
void RawUringServer::maybe_close(UConn* c) {
  if (c->queued) return;  // after its send goes, at the end of the batch
  if (c->eof && !c->sending && !c->recv_armed && c->head < 0) close_conn(c);
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
