// B3's servers (docs/benchmarks.md): one HTTP/1.1 plaintext protocol, five I/O layers.
//
//   http_bench_server --impl raw|netpoll|netpoll_uring|libuv|asio|asio_uring [--loops N] [ADDR]
//                                                                 (ADDR default 127.0.0.1:0)
//
// Prints exactly one line, "listening on <ip:port>", flushed, then serves until SIGTERM or
// SIGINT, closes every connection and exits 0 (so a sanitizer build reports leaks at exit).
//
// --loops N (default 1; B9, scale_bench.cc): N event loops, one thread each, every one with its
// own listening socket on the same address through SO_REUSEPORT (the first binds ADDR, the
// others the port it got), its own connections and its own preformatted responses; nothing is
// shared on the request path. The main thread waits for the signal and then stops each loop
// (netpoll: run_server_loops, exactly examples/http_server --loops N; raw: an eventfd in each
// epoll set; libuv: a uv_async_t per loop). With 1, each implementation runs B3's code path.
//
// Every implementation runs examples/http.h's Session, the I/O-free protocol engine, with the
// same driving rules as examples' serve_conn, so only the I/O layer differs:
//   - per batch of input: read into Session::read_space(), received(), process(), then ONE
//     write of output(); Next::write means the output filled up: write, then process() again;
//   - while a write is incomplete nothing more is read (back-pressure);
//   - Next::close: after the last response, half-close and drain the peer's input (at most
//     1 MiB, at most 2 s) when it may still be sending (Session::unread_input), then close;
//   - TCP_NODELAY on every accepted connection (netpoll's Accept sets it);
//   - a short stream read is taken to mean the socket is drained: wait for the next readiness
//     instead of reading again for EAGAIN (libuv's uv__read does this; netpoll's FD does it
//     only on the kernel's TCP_INQ word, since a read can stop short at an urgent byte).
//
//   raw      edge-triggered epoll (EPOLLIN|EPOLLRDHUP|EPOLLET), read until EAGAIN or a short
//            read, EPOLLOUT added to the registration only once a write hits EAGAIN: the floor.
//   netpoll  examples/serve.h's run_server + http::serve_conn: exactly examples/http_server.
//   libuv    uv_tcp_t; uv_read_start with an alloc_cb handing out the Session's read_space;
//            uv_try_write first and uv_write for the remainder, reading stopped until it
//            completes; uv_shutdown + a uv_timer_t for the lingering close; uv_signal_t
//            (one loop) or uv_async_t (N loops; libuv 1.44 has no UV_TCP_REUSEPORT, so each
//            listener is a socket made as raw's and adopted with uv_tcp_open).
//   asio, asio_uring  standalone Asio's coroutines over the same Session, in
//            http_asio_server.cc: the two Asio builds are programs of their own (one program
//            must not hold both), so for these this binary execs the matching one
//            (http_asio_server / http_asio_uring_server, built beside it) with its own
//            arguments: the same process, pid and stdout for B3's driver. One loop only.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "benchmarks/harness.h"
#include "benchmarks/http_server_args.h"
#include "examples/http.h"
#include "examples/serve.h"
#include "benchmarks/backend_choice.h"
#include "netpoll/net/net.h"

namespace {

namespace http = netpoll::examples::http;
using Next = http::Session::Next;

constexpr const char* kProg = "http_bench_server";
// The lingering close's bounds, as serve_conn's.
constexpr std::size_t kDrainBudget = 1 << 20;
constexpr std::int64_t kDrainNs = 2'000'000'000;

std::int64_t mono_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// "a.b.c.d:port" (IPv4 only: enough for a loopback benchmark).
bool parse_ipv4(const std::string& addr, sockaddr_in* out) {
  const std::size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = addr.substr(0, colon);
  if (host.empty()) host = "0.0.0.0";
  char* end = nullptr;
  const long port = std::strtol(addr.c_str() + colon + 1, &end, 10);
  if (*end != 0 || port < 0 || port > 65535 || colon + 1 == addr.size()) return false;
  *out = sockaddr_in{};
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<std::uint16_t>(port));
  return ::inet_pton(AF_INET, host.c_str(), &out->sin_addr) == 1;
}

void print_listening(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  std::printf("listening on %s:%u\n", ip, unsigned(ntohs(a.sin_port)));
  std::fflush(stdout);
}

// A nonblocking listening socket on `addr` (SO_REUSEADDR, and SO_REUSEPORT when `reuse_port`),
// its bound address in `*bound`; -1 with errno set on failure.
int open_listener(const sockaddr_in& addr, bool reuse_port, sockaddr_in* bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  socklen_t len = sizeof *bound;
  *bound = addr;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(bound), sizeof *bound) != 0 || ::listen(fd, SOMAXCONN) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(bound), &len) != 0) {
    const int e = errno;
    ::close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

// --- raw: edge-triggered epoll -----------------------------------------------------------------

struct RawConn {
  RawConn(int f, http::Responses& r) noexcept : fd(f), s(r) {}
  int fd;
  http::Session s;
  std::size_t sent = 0;    // bytes of s.output() already written
  Next next = Next::read;  // what s.process() last asked for
  // Invariant (edge-triggered): false only after a read returned EAGAIN or came back short
  // since the last EPOLLIN edge, so the kernel will raise a new edge for any further input.
  bool readable = false;
  bool out_armed = false;  // EPOLLOUT is in the registration (added at the first EAGAIN)
  bool draining = false;   // lingering close: our side is shut, discarding the peer's input
  std::size_t drain_budget = kDrainBudget;
  std::int64_t drain_deadline = 0;
  RawConn* prev = nullptr;  // every open connection, for shutdown and drain deadlines
  RawConn* link = nullptr;
};

class RawServer {
 public:
  RawServer() = default;
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;
  ~RawServer() {
    if (stopfd_ >= 0) ::close(stopfd_);
  }
  // One loop on the calling thread, stopped by the termination pipe (B3's server).
  int run(const sockaddr_in& addr);
  // A member of run_group: prepare() on the main thread (takes `lfd`), serve() on the loop's
  // thread, wake() from the main thread to stop it.
  bool prepare(int lfd);
  int serve() { return loop(); }
  void wake() noexcept;

 private:
  // Makes the epoll set and registers the listener and `stopfd`, whose readability stops the
  // loop (the signal pipe or the eventfd; read never, so it stays readable).
  bool watch(int stopfd);
  // The event loop, shared by both modes: until `stopfd` is readable, then closes every
  // connection, the listener and the epoll set (not `stopfd`: its owner closes it).
  int loop();
  void accept_all();
  // Advances `c` as far as it can go without blocking; false: close it.
  bool drive(RawConn& c);
  bool drain(RawConn& c);
  bool arm_out(RawConn& c);
  void close_conn(RawConn* c);
  int drain_timeout_ms() const;
  void expire_drains();

  http::Responses responses_;
  int ep_ = -1, lfd_ = -1;
  int stopfd_ = -1;  // prepare()'s eventfd, owned (run()'s signal pipe is run's own)
  RawConn* conns_ = nullptr;
  std::size_t nconns_ = 0, ndraining_ = 0;
};

// epoll_data.ptr of the two non-connection descriptors.
char g_listen_tag, g_stop_tag;

int RawServer::run(const sockaddr_in& addr) {
  netpoll::Result<int> sig = netpoll::examples::termination_pipe();
  if (!sig) {
    std::fprintf(stderr, "%s: signal pipe: %s\n", kProg, sig.error().message().c_str());
    return 1;
  }
  sockaddr_in a;
  lfd_ = open_listener(addr, /*reuse_port=*/false, &a);
  if (lfd_ < 0 || !watch(*sig)) {
    std::fprintf(stderr, "%s: raw listen: %s\n", kProg, std::strerror(errno));
    return 1;
  }
  print_listening(a);
  const int rc = loop();
  ::close(*sig);
  return rc;
}

bool RawServer::prepare(int lfd) {
  lfd_ = lfd;
  // Counter semantics, never read: the one write of wake() leaves it readable for good.
  stopfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stopfd_ >= 0 && watch(stopfd_)) return true;
  std::fprintf(stderr, "%s: raw loop: %s\n", kProg, std::strerror(errno));
  return false;
}

void RawServer::wake() noexcept {
  const std::uint64_t one = 1;
  // Only fails if the counter would overflow, which one write per server cannot do.
  (void)!::write(stopfd_, &one, sizeof one);
}

bool RawServer::watch(int stopfd) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event lev{}, sev{};
  lev.events = EPOLLIN | EPOLLET;
  lev.data.ptr = &g_listen_tag;
  sev.events = EPOLLIN;
  sev.data.ptr = &g_stop_tag;
  return ep_ >= 0 && ::epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &lev) == 0 &&
         ::epoll_ctl(ep_, EPOLL_CTL_ADD, stopfd, &sev) == 0;
}

int RawServer::loop() {
  epoll_event evs[64];
  for (bool stop = false; !stop;) {
    const int n = ::epoll_wait(ep_, evs, 64, drain_timeout_ms());
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "%s: epoll_wait: %s\n", kProg, std::strerror(errno));
      return 1;
    }
    // One epoll item per descriptor, so a connection closed below has no later event in
    // this batch that could refer to it.
    for (int i = 0; i < n; ++i) {
      void* p = evs[i].data.ptr;
      if (p == &g_listen_tag) {
        accept_all();
      } else if (p == &g_stop_tag) {
        stop = true;
      } else {
        RawConn& c = *static_cast<RawConn*>(p);
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c.readable = true;
        if (!drive(c)) close_conn(&c);
      }
    }
    if (ndraining_ > 0) expire_drains();
  }
  std::fprintf(stderr, "%s: terminated, closing %zu connection(s)\n", kProg, nconns_);
  while (conns_) close_conn(conns_);
  ::close(lfd_);
  ::close(ep_);
  return 0;
}

void RawServer::accept_all() {
  // Edge-triggered listener: accept until the queue is empty.
  for (;;) {
    const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN)  // EMFILE and friends: drop this round (the benchmark never hits it)
        std::fprintf(stderr, "%s: accept4: %s\n", kProg, std::strerror(errno));
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto* c = new RawConn(fd, responses_);
    epoll_event ev{};
    // Registering reports input already queued as an edge at once, so the first read waits
    // for the event (no speculative read).
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::fprintf(stderr, "%s: epoll_ctl: %s\n", kProg, std::strerror(errno));
      ::close(fd);
      delete c;
      continue;
    }
    c->link = conns_;
    if (conns_) conns_->prev = c;
    conns_ = c;
    ++nconns_;
  }
}

bool RawServer::arm_out(RawConn& c) {
  if (c.out_armed) return true;  // edge-triggered: the next free space raises an edge
  // Kept once added: with EPOLLET an idle EPOLLOUT costs nothing, and dropping it would cost
  // an epoll_ctl per back-pressure episode. EPOLL_CTL_MOD reports current writability, so
  // space freed before this call is not missed.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = &c;
  if (::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) != 0) return false;
  c.out_armed = true;
  return true;
}

bool RawServer::drive(RawConn& c) {
  for (;;) {
    if (c.draining) return drain(c);
    // 1. The pending output: one send for the whole batch.
    const std::span<const std::byte> out = c.s.output();
    if (c.sent < out.size()) {
      const ssize_t w = ::send(c.fd, out.data() + c.sent, out.size() - c.sent, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN ? arm_out(c) : false;
      }
      c.sent += static_cast<std::size_t>(w);
      // A partial send means the send buffer is full: another would fail with EAGAIN.
      if (c.sent < out.size()) return arm_out(c);
    }
    if (!out.empty()) {
      c.s.clear_output();
      c.sent = 0;
    }
    // 2. What the protocol asked for once that output is out.
    if (c.next == Next::write) {
      c.next = c.s.process();
      continue;
    }
    if (c.next == Next::close) {
      if (!c.s.unread_input() || ::shutdown(c.fd, SHUT_WR) != 0) return false;
      c.draining = true;
      c.drain_deadline = mono_ns() + kDrainNs;
      ++ndraining_;
      continue;
    }
    // 3. More input, until the socket is drained.
    if (!c.readable) return true;
    const std::span<std::byte> space = c.s.read_space();
    const ssize_t n = ::read(c.fd, space.data(), space.size());
    if (n > 0) {
      if (static_cast<std::size_t>(n) < space.size()) c.readable = false;
      c.s.received(static_cast<std::size_t>(n));
      c.next = c.s.process();
      continue;
    }
    if (n == 0) return false;  // the peer closed
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return false;
    c.readable = false;
    return true;
  }
}

bool RawServer::drain(RawConn& c) {
  while (c.readable) {
    const std::span<std::byte> space = c.s.drain_space();
    const ssize_t n = ::read(c.fd, space.data(), space.size());
    if (n > 0) {
      c.drain_budget -= std::min(c.drain_budget, static_cast<std::size_t>(n));
      if (c.drain_budget == 0) return false;
      if (static_cast<std::size_t>(n) < space.size()) c.readable = false;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      return false;  // the peer's end of stream: the close the drain waited for
    } else if (errno == EAGAIN) {
      c.readable = false;
    }
  }
  return true;
}

void RawServer::close_conn(RawConn* c) {
  if (c->draining) --ndraining_;
  if (c->prev) c->prev->link = c->link;
  else conns_ = c->link;
  if (c->link) c->link->prev = c->prev;
  --nconns_;
  ::close(c->fd);  // also removes it from the epoll set (the only reference to the file)
  delete c;
}

// Only while some connection is in its lingering close (never in the benchmark's runs).
int RawServer::drain_timeout_ms() const {
  if (ndraining_ == 0) return -1;
  std::int64_t first = INT64_MAX;
  for (const RawConn* c = conns_; c; c = c->link)
    if (c->draining) first = std::min(first, c->drain_deadline);
  const std::int64_t left = first - mono_ns();
  return left <= 0 ? 0 : static_cast<int>((left + 999'999) / 1'000'000);
}

void RawServer::expire_drains() {
  const std::int64_t now = mono_ns();
  for (RawConn* c = conns_; c;) {
    RawConn* nx = c->link;
    if (c->draining && c->drain_deadline <= now) close_conn(c);
    c = nx;
  }
}

// --- libuv ---------------------------------------------------------------------------------------

struct UvServer;

struct UvConn {
  UvConn(UvServer* srv, http::Responses& r) noexcept : server(srv), s(r) {}
  uv_tcp_t tcp;
  uv_timer_t linger;  // the lingering close's deadline
  uv_write_t wreq;    // at most one write in flight (reading stops while it is)
  uv_shutdown_t sreq;
  UvServer* server;
  http::Session s;
  Next next = Next::read;
  bool reading = false;
  bool writing = false;
  bool draining = false;
  bool closing = false;
  int open_handles = 2;  // tcp and linger; freed when both close callbacks have run
  std::size_t drain_budget = kDrainBudget;
  UvConn* prev = nullptr;  // every open connection, for shutdown
  UvConn* link = nullptr;
};

struct UvServer {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;  // one loop (run)
  uv_async_t wake_async;         // N loops (prepare)
  http::Responses responses;
  UvConn* conns = nullptr;
  std::size_t nconns = 0;
  bool stopping = false;
  bool grouped = false;  // made by prepare: stopped by wake_async instead of the signals

  static UvConn& of(uv_handle_t* h) { return *static_cast<UvConn*>(h->data); }
  static uv_stream_t* stream(UvConn& c) { return reinterpret_cast<uv_stream_t*>(&c.tcp); }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    UvConn& c = of(h);
    // Invariant: reading is stopped while output is pending, so read_space() (which moves a
    // partial request to the front of the input buffer) never runs under a write.
    const std::span<std::byte> sp = c.draining ? c.s.drain_space() : c.s.read_space();
    *b = uv_buf_init(reinterpret_cast<char*>(sp.data()), static_cast<unsigned>(sp.size()));
  }

  static void on_read(uv_stream_t* st, ssize_t n, const uv_buf_t*) {
    UvConn& c = of(reinterpret_cast<uv_handle_t*>(st));
    if (n == 0) return;  // EAGAIN: libuv waits for the next readiness
    if (n < 0) {         // UV_EOF (also the end of a lingering close) or an error
      close_conn(c);
      return;
    }
    if (c.draining) {
      c.drain_budget -= std::min(c.drain_budget, static_cast<std::size_t>(n));
      if (c.drain_budget == 0) close_conn(c);
      return;
    }
    c.s.received(static_cast<std::size_t>(n));
    c.next = c.s.process();
    flush(c);
  }

  // Writes the pending output and follows the protocol's Next until it needs input, a write
  // is in flight, or the connection closes.
  static void flush(UvConn& c) {
    for (;;) {
      const std::span<const std::byte> out = c.s.output();
      if (!out.empty()) {
        uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(out.data())),
                                 static_cast<unsigned>(out.size()));
        const int w = uv_try_write(stream(c), &b, 1);
        if (w < 0 && w != UV_EAGAIN) {
          close_conn(c);
          return;
        }
        const std::size_t done = w > 0 ? static_cast<std::size_t>(w) : 0;
        if (done < out.size()) {
          // The send buffer is full: queue the rest (the Session's output buffer stays
          // untouched until on_written) and stop reading until it is out.
          b = uv_buf_init(b.base + done, static_cast<unsigned>(out.size() - done));
          if (uv_write(&c.wreq, stream(c), &b, 1, &on_written) != 0) {
            close_conn(c);
            return;
          }
          c.writing = true;
          if (c.reading) {
            uv_read_stop(stream(c));
            c.reading = false;
          }
          return;
        }
        c.s.clear_output();
      }
      if (c.next == Next::write) {
        c.next = c.s.process();
        continue;
      }
      if (c.next == Next::close) {
        begin_close(c);
        return;
      }
      start_reading(c);
      return;
    }
  }

  static void start_reading(UvConn& c) {
    if (c.reading) return;
    if (uv_read_start(stream(c), &on_alloc, &on_read) != 0) {
      close_conn(c);
      return;
    }
    c.reading = true;
  }

  static void on_written(uv_write_t* req, int status) {
    UvConn& c = *static_cast<UvConn*>(req->data);
    c.writing = false;
    if (c.closing) return;  // cancelled by uv_close
    if (status < 0) {
      close_conn(c);
      return;
    }
    c.s.clear_output();
    flush(c);
  }

  // Next::close: the last response is out. Half-close and drain when the peer may still be
  // sending (closing with unread input would reset the connection and could destroy that
  // response in the peer's receive buffer).
  static void begin_close(UvConn& c) {
    if (!c.s.unread_input()) {
      close_conn(c);
      return;
    }
    c.sreq.data = &c;
    if (uv_shutdown(&c.sreq, stream(c), &on_shutdown) != 0) {
      close_conn(c);
      return;
    }
    c.draining = true;
    uv_timer_start(&c.linger, &on_linger_timeout, kDrainNs / 1'000'000, 0);
    start_reading(c);
  }

  static void on_shutdown(uv_shutdown_t* req, int status) {
    UvConn& c = *static_cast<UvConn*>(req->data);
    if (status < 0 && !c.closing) close_conn(c);  // UV_ECANCELED comes from our own close
  }

  static void on_linger_timeout(uv_timer_t* t) { close_conn(of(reinterpret_cast<uv_handle_t*>(t))); }

  static void close_conn(UvConn& c) {
    if (c.closing) return;
    c.closing = true;
    UvServer& srv = *c.server;
    if (c.prev) c.prev->link = c.link;
    else srv.conns = c.link;
    if (c.link) c.link->prev = c.prev;
    --srv.nconns;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), &on_conn_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c.linger), &on_conn_handle_closed);
  }

  static void on_conn_handle_closed(uv_handle_t* h) {
    UvConn& c = of(h);
    if (--c.open_handles == 0) delete &c;
  }

  static void on_connection(uv_stream_t* l, int status) {
    UvServer& srv = *static_cast<UvServer*>(l->data);
    if (status < 0) {
      std::fprintf(stderr, "%s: libuv listen: %s\n", kProg, uv_strerror(status));
      return;
    }
    auto* c = new UvConn(&srv, srv.responses);
    uv_tcp_init(&srv.loop, &c->tcp);
    uv_timer_init(&srv.loop, &c->linger);
    c->tcp.data = c;
    c->linger.data = c;
    c->wreq.data = c;
    c->link = srv.conns;
    if (srv.conns) srv.conns->prev = c;
    srv.conns = c;
    ++srv.nconns;
    if (const int e = uv_accept(l, stream(*c))) {
      std::fprintf(stderr, "%s: uv_accept: %s\n", kProg, uv_strerror(e));
      close_conn(*c);
      return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    start_reading(*c);
  }

  // Both stop paths: the listener, the stop handles of this mode and every connection are
  // closed, so uv_run returns once their close callbacks have run.
  void stop() {
    if (stopping) return;
    stopping = true;
    std::fprintf(stderr, "%s: terminated, closing %zu connection(s)\n", kProg, nconns);
    uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    if (grouped) {
      uv_close(reinterpret_cast<uv_handle_t*>(&wake_async), nullptr);
    } else {
      uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    }
    while (conns) close_conn(*conns);
  }
  static void on_signal(uv_signal_t* s, int) { static_cast<UvServer*>(s->data)->stop(); }
  static void on_wake(uv_async_t* a) { static_cast<UvServer*>(a->data)->stop(); }

  // One loop on the calling thread, stopped by uv_signal_t (B3's server).
  int run(const sockaddr_in& addr) {
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &listener);
    uv_signal_init(&loop, &sigterm);
    uv_signal_init(&loop, &sigint);
    listener.data = sigterm.data = sigint.data = this;
    uv_signal_start(&sigterm, &on_signal, SIGTERM);
    uv_signal_start(&sigint, &on_signal, SIGINT);
    sockaddr_in a = addr;
    int len = sizeof a;
    int e = uv_tcp_bind(&listener, reinterpret_cast<const sockaddr*>(&a), 0);
    if (!e) e = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), SOMAXCONN, &on_connection);
    if (!e) e = uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&a), &len);
    if (e) {
      std::fprintf(stderr, "%s: libuv listen: %s\n", kProg, uv_strerror(e));
      return 1;
    }
    print_listening(a);
    return serve();
  }

  // A member of run_group, on the main thread before its loop's thread starts (which orders
  // these writes before the loop's first use): adopts the listening socket `lfd`.
  bool prepare(int lfd) {
    grouped = true;
    uv_loop_init(&loop);
    uv_tcp_init(&loop, &listener);
    uv_async_init(&loop, &wake_async, &on_wake);
    listener.data = wake_async.data = this;
    int e = uv_tcp_open(&listener, lfd);
    if (!e) e = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), SOMAXCONN, &on_connection);
    if (e) {
      std::fprintf(stderr, "%s: libuv listen: %s\n", kProg, uv_strerror(e));
      return false;
    }
    return true;
  }
  // From any thread; the handle stays open until on_wake, so this never races its close.
  void wake() noexcept { uv_async_send(&wake_async); }

  int serve() {
    uv_run(&loop, UV_RUN_DEFAULT);  // returns once stop() has closed every handle
    if (uv_loop_close(&loop) != 0) {
      std::fprintf(stderr, "%s: uv_loop_close: handles left open\n", kProg);
      return 1;
    }
    return 0;
  }
};

// --- N loops, one thread each (raw and libuv; netpoll's is run_server_loops) --------------------

// `loops` servers of type S (prepare(lfd) on this thread, serve() on its own, wake() from
// here) on one address through SO_REUSEPORT listeners: the first binds `addr`, the others the
// address it got, so port 0 gives them all the same ephemeral port. This thread waits for
// SIGTERM / SIGINT, wakes every server, joins them and returns 0 if each one ended cleanly.
template <class S>
int run_group(const sockaddr_in& addr, std::size_t loops) {
  netpoll::Result<int> sig = netpoll::examples::termination_pipe();
  if (!sig) {
    std::fprintf(stderr, "%s: signal pipe: %s\n", kProg, sig.error().message().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<S>> servers;
  sockaddr_in bound = addr;
  for (std::size_t i = 0; i < loops; ++i) {
    sockaddr_in got;
    const int lfd = open_listener(bound, /*reuse_port=*/true, &got);
    if (lfd < 0) {
      std::fprintf(stderr, "%s: listen (loop %zu): %s\n", kProg, i, std::strerror(errno));
      return 1;
    }
    bound = got;
    servers.push_back(std::make_unique<S>());
    if (!servers.back()->prepare(lfd)) return 1;  // prepare said why
  }
  print_listening(bound);
  // The loop threads start with SIGTERM / SIGINT blocked (a new thread inherits the mask), so
  // the signals reach this thread's pipe and never interrupt a loop.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigaddset(&term, SIGINT);
  pthread_sigmask(SIG_BLOCK, &term, &old);
  std::vector<int> rc(loops, 1);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < loops; ++i) threads.emplace_back([&rc, &servers, i] { rc[i] = servers[i]->serve(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  const int signo = netpoll::examples::detail::wait_for_signal(*sig);
  std::fprintf(stderr, "%s: %s, stopping %zu loops\n", kProg, signo ? ::strsignal(signo) : "signal pipe failed",
               loops);
  for (auto& s : servers) s->wake();
  int status = 0;
  for (std::size_t i = 0; i < loops; ++i) {
    threads[i].join();
    status |= rc[i];
  }
  ::close(*sig);
  return status;
}

int usage() {
  std::fprintf(stderr, "usage: %s --impl raw|netpoll|netpoll_uring|libuv|asio|asio_uring [--loops N] [ADDR]   (ADDR default 127.0.0.1:0)\n", kProg);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  netpoll::bench::HttpServerArgs cmd;
  if (!netpoll::bench::parse_http_server_args(argc, argv, kProg, &cmd)) return usage();
  const std::string& impl = cmd.impl;
  std::string& addr = cmd.addr;
  const long loops = cmd.loops;
  if (impl == "asio" || impl == "asio_uring") {
    const std::string path =
        netpoll::bench::find_bench_binary(impl == "asio" ? "http_asio_server" : "http_asio_uring_server");
    if (path.empty()) {
      std::fprintf(stderr, "%s: cannot find the %s server binary (built beside this one)\n", kProg, impl.c_str());
      return 1;
    }
    std::vector<char*> args(argv, argv + argc);
    std::string arg0 = path;
    args[0] = arg0.data();
    args.push_back(nullptr);
    ::execv(path.c_str(), args.data());
    std::fprintf(stderr, "%s: exec %s: %s\n", kProg, path.c_str(), std::strerror(errno));
    return 1;
  }
  if (impl == "netpoll" || impl == "netpoll_uring") {
    if (!netpoll::bench::choose_backend(impl == "netpoll_uring")) {
      std::fprintf(stderr, "%s: netpoll_uring needs the io_uring build (--config=opt_uring)\n", kProg);
      return 1;
    }
    if (loops > 1) {
      // Exactly examples/http_server --loops N: one http::Server per Loop.
      return netpoll::examples::run_server_loops(kProg, addr.c_str(), static_cast<std::size_t>(loops), [](std::size_t) {
        auto server = std::make_shared<http::Server>();
        return [server](netpoll::net::Conn& c) { return http::serve_conn(c, *server); };
      });
    }
    // Exactly examples/http_server's main: run_server + serve_conn over one http::Server.
    std::string prog = kProg;
    char* args[] = {prog.data(), addr.data(), nullptr};
    http::Server server;
    return netpoll::examples::run_server(kProg, 2, args, [&server](netpoll::net::Conn& c) {
      return http::serve_conn(c, server);
    });
  }
  sockaddr_in a;
  if (!parse_ipv4(addr, &a)) {
    std::fprintf(stderr, "%s: %s: expected IPv4 a.b.c.d:port\n", kProg, addr.c_str());
    return 2;
  }
  const auto n = static_cast<std::size_t>(loops);
  if (impl == "raw") return n > 1 ? run_group<RawServer>(a, n) : RawServer().run(a);
  if (impl == "libuv") {
    if (n > 1) return run_group<UvServer>(a, n);
    auto* srv = new UvServer;  // a few hundred bytes, but off the stack with the loop
    const int rc = srv->run(a);
    delete srv;
    return rc;
  }
  return usage();
}
