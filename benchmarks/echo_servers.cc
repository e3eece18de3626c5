#include "benchmarks/echo_servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "benchmarks/buffer_pool.h"
#include "benchmarks/echo_server_shared.h"
#include "benchmarks/backend_choice.h"
#include "netpoll/net/net.h"
#include "netpoll/net/internal/sys_posix.h"
#include "test/alloc_counter.h"

namespace netpoll::bench {

namespace {

using Shared = EchoServer::Shared;

void set_nodelay(int fd) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// --- raw: the physical floor -----------------------------------------------------------------

// Per connection: the descriptor and, only while the peer is not reading fast enough, the
// part of an echo the socket did not take.
struct RawConn {
  int fd;
  std::uint32_t out_off = 0;
  std::uint32_t out_len = 0;
  char* out = nullptr;  // new[]'d; non-null exactly while EPOLLOUT is armed
};

class RawServer {
 public:
  explicit RawServer(Shared& sh) : sh_(sh) {}
  void run();

 private:
  // Events per epoll_wait: netpoll's batch (Netpoll::kBatch).
  static constexpr int kBatch = 128;
  static constexpr std::uint32_t kIn = EPOLLIN | EPOLLRDHUP | EPOLLET;

  void accept_all();
  void serve(RawConn* c);
  bool send_all(RawConn* c, const char* p, std::size_t n);
  bool flush(RawConn* c);
  void close_conn(RawConn* c);
  bool rearm(RawConn* c, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = c;
    ++sys_;
    if (::epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev) == 0) return true;
    sh_.error(errno_text("raw epoll_ctl MOD"));
    close_conn(c);
    return false;
  }
  void close_listener() {
    if (lfd_ < 0) return;
    ++sys_;
    ::close(lfd_);
    lfd_ = -1;
  }
  void check_finish() {
    if (!sh_.finished()) return;
    sh_.set_wake(nullptr);
    close_listener();
    done_ = true;
  }

  Shared& sh_;
  int ep_ = -1, lfd_ = -1, wfd_ = -1;
  std::int64_t sys_ = 0;
  bool done_ = false;
  std::vector<char> buf_ = std::vector<char>(kReadBuf);
  // Tags for the two descriptors that are not connections (epoll_event::data.ptr).
  char listener_tag_ = 0, wake_tag_ = 0;
};

void RawServer::run() {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  wfd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  epoll_event lev{}, wev{};
  lev.events = EPOLLIN | EPOLLET;
  lev.data.ptr = &listener_tag_;
  wev.events = EPOLLIN | EPOLLET;
  wev.data.ptr = &wake_tag_;
  if (ep_ < 0 || wfd_ < 0 || lfd_ < 0 || ::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(lfd_, net::listener_backlog()) != 0 ||
      ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, lfd_, &lev) != 0 || ::epoll_ctl(ep_, EPOLL_CTL_ADD, wfd_, &wev) != 0) {
    sh_.listening(0, errno_text("raw listen"));
  } else {
    const int wfd = wfd_;
    sh_.set_wake([wfd] {
      const std::uint64_t one = 1;
      (void)!::write(wfd, &one, sizeof one);
    });
    if (sh_.cfg.conns == 0) sh_.begin_measure(0);
    sh_.listening(ntohs(a.sin_port));
    epoll_event evs[kBatch];
    while (!done_) {
      ++sys_;
      const int n = ::epoll_wait(ep_, evs, kBatch, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        sh_.error(errno_text("raw epoll_wait"));
        break;
      }
      for (int i = 0; i < n; ++i) {
        void* p = evs[i].data.ptr;
        if (p == &listener_tag_) {
          accept_all();
        } else if (p == &wake_tag_) {
          std::uint64_t v;
          ++sys_;
          (void)!::read(wfd_, &v, sizeof v);
          check_finish();
        } else {
          serve(static_cast<RawConn*>(p));  // one event per connection per batch
        }
      }
    }
    sh_.end_measure(sys_);
  }
  sh_.set_wake(nullptr);
  close_listener();
  if (wfd_ >= 0) ::close(wfd_);
  if (ep_ >= 0) ::close(ep_);
}

void RawServer::accept_all() {
  while (lfd_ >= 0) {
    ++sys_;
    const int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) {
        sh_.error(errno_text("raw accept4"));
        close_listener();
      }
      return;
    }
    ++sys_;
    set_nodelay(fd);
    auto* c = new RawConn{fd};
    epoll_event ev{};
    ev.events = kIn;
    ev.data.ptr = c;
    ++sys_;
    if (::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      sh_.error(errno_text("raw epoll_ctl ADD"));
      ::close(fd);
      delete c;
      continue;
    }
    if (sh_.accepted_one(sys_)) close_listener();
  }
}

// Edge-triggered: reads until the socket is drained, echoing each read. The floor takes a short
// read to mean it is (true for the benchmarks' plain TCP; urgent data would break it, see
// echo_servers.h), so only a full buffer reads again.
void RawServer::serve(RawConn* c) {
  if (c->out && !flush(c)) return;  // output still blocked (or the connection failed)
  for (;;) {
    ++sys_;
    const ssize_t r = ::read(c->fd, buf_.data(), buf_.size());
    if (r > 0) {
      sh_.out.bytes += static_cast<std::uint64_t>(r);
      if (!send_all(c, buf_.data(), static_cast<std::size_t>(r))) return;
      if (static_cast<std::size_t>(r) < buf_.size()) return;
    } else if (r == 0) {
      close_conn(c);
      return;
    } else if (errno == EAGAIN) {
      return;
    } else if (errno != EINTR) {
      sh_.error(errno_text("raw read"));
      close_conn(c);
      return;
    }
  }
}

// Sends all of n bytes, or keeps what the socket did not take and arms EPOLLOUT (then stops
// reading this connection until it is flushed). False if the caller must stop reading.
bool RawServer::send_all(RawConn* c, const char* p, std::size_t n) {
  while (n > 0) {
    ++sys_;
    const ssize_t w = ::send(c->fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= static_cast<std::size_t>(w);
    } else if (w < 0 && errno == EAGAIN) {
      c->out = new char[n];
      std::memcpy(c->out, p, n);
      c->out_off = 0;
      c->out_len = static_cast<std::uint32_t>(n);
      (void)rearm(c, kIn | EPOLLOUT);
      return false;
    } else if (!(w < 0 && errno == EINTR)) {
      sh_.error(errno_text("raw send"));
      close_conn(c);
      return false;
    }
  }
  return true;
}

// Sends the kept output. True once it is all gone (EPOLLOUT disarmed again).
bool RawServer::flush(RawConn* c) {
  while (c->out_off < c->out_len) {
    ++sys_;
    const ssize_t w = ::send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (w > 0) {
      c->out_off += static_cast<std::uint32_t>(w);
    } else if (w < 0 && errno == EAGAIN) {
      return false;  // the next EPOLLOUT edge comes back here
    } else if (!(w < 0 && errno == EINTR)) {
      sh_.error(errno_text("raw send"));
      close_conn(c);
      return false;
    }
  }
  delete[] c->out;
  c->out = nullptr;
  return rearm(c, kIn);
}

void RawServer::close_conn(RawConn* c) {
  ++sys_;
  ::close(c->fd);  // never dup'd: closing removes it from the epoll set
  delete[] c->out;
  delete c;
  ++sh_.out.closed;
  check_finish();
}

// --- netpoll: the coroutine Loop --------------------------------------------------------------

// The net layer's syscalls, counted through its hook table (netpoll/net/internal/sys_posix.h) while a netpoll
// server runs: only the server thread calls through the table, so a relaxed load and store
// make the increment (no locked instruction on the measured path).
std::atomic<std::uint64_t> g_np_calls{0};
void bump() noexcept { g_np_calls.store(g_np_calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

void install_counting_hooks() {
  net::sys.accept4 = [](int fd, sockaddr* a, socklen_t* l, int f) { return bump(), net::kRealSys.accept4(fd, a, l, f); };
  net::sys.read = [](int fd, void* b, size_t n) { return bump(), net::kRealSys.read(fd, b, n); };
  net::sys.recvmsg = [](int fd, msghdr* m, int f) { return bump(), net::kRealSys.recvmsg(fd, m, f); };
  net::sys.send = [](int fd, const void* b, size_t n, int f) { return bump(), net::kRealSys.send(fd, b, n, f); };
  net::sys.sendmsg = [](int fd, const msghdr* m, int f) { return bump(), net::kRealSys.sendmsg(fd, m, f); };
  net::sys.close = [](int fd) { return bump(), net::kRealSys.close(fd); };
  net::sys.setsockopt = [](int fd, int lv, int nm, const void* v, socklen_t l) {
    return bump(), net::kRealSys.setsockopt(fd, lv, nm, v, l);
  };
  net::sys.getsockopt = [](int fd, int lv, int nm, void* v, socklen_t* l) {
    return bump(), net::kRealSys.getsockopt(fd, lv, nm, v, l);
  };
  net::sys.getsockname = [](int fd, sockaddr* a, socklen_t* l) { return bump(), net::kRealSys.getsockname(fd, a, l); };
}

struct NpServer {
  explicit NpServer(Shared& s) : sh(s) {}
  Shared& sh;
  net::Loop loop;
  const bool ring = loop.backend_name() == "io_uring";
  net::Listener ln;
  bool listening = false;  // the acceptor coroutine is running
  BufferPool<kReadBuf> pool;  // ServerConfig::idle_pool's buffers

  std::int64_t syscalls() noexcept {
    const netpoll::PollerStats s = loop.netpoll().backend().stats();
    // A ring's registrations are no syscalls (its waits count every io_uring_enter).
    const std::uint64_t regs = ring ? 0 : s.registrations + s.deregistrations;
    return static_cast<std::int64_t>(s.waits + s.wake_signals + s.wake_drains + regs +
                                     g_np_calls.load(std::memory_order_relaxed));
  }
  // Closing the listener ends the acceptor, which comes back here; the last one out stops the
  // Loop (run() returns after this step, with no coroutine left).
  void check_finish() {
    if (!sh.finished()) return;
    if (listening) (void)ln.Close();
    else loop.stop();
  }
};

// After a session's Write: false (reported) if it failed, else the bytes are counted.
bool np_echoed(NpServer& s, const Result<std::size_t>& w, std::size_t n) {
  if (!w) {
    s.sh.error("netpoll Write: " + w.error().message());
    return false;
  }
  s.sh.out.bytes += n;
  return true;
}

void np_closed(NpServer& s, net::Conn& c) {
  (void)c.Close();
  ++s.sh.out.closed;
  s.check_finish();
}

template <std::size_t N>
net::Task<void> np_session(NpServer& s, net::Conn c) {
  std::array<std::byte, N> buf;  // in the coroutine frame: one allocation per connection
  for (;;) {
    Result<std::size_t> n = co_await c.Read(std::span<std::byte>(buf));
    if (!n) {
      s.sh.error("netpoll Read: " + n.error().message());
      break;
    }
    if (*n == 0) break;
    Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(buf.data(), *n));
    if (!np_echoed(s, w, *n)) break;
  }
  np_closed(s, c);
}

// The same session holding no buffer while idle: Readable, then a pooled buffer for one Read
// and its Write.
net::Task<void> np_pooled_session(NpServer& s, net::Conn c) {
  for (;;) {
    if (std::error_code ec = co_await c.Readable()) {
      s.sh.error("netpoll Readable: " + ec.message());
      break;
    }
    auto* b = s.pool.take();
    Result<std::size_t> n = co_await c.Read(std::span<std::byte>(b->data));
    if (!n || *n == 0) {
      s.pool.give(b);
      if (!n) s.sh.error("netpoll Read: " + n.error().message());
      break;
    }
    Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(b->data.data(), *n));
    s.pool.give(b);
    if (!np_echoed(s, w, *n)) break;
  }
  np_closed(s, c);
}

net::Task<void> np_acceptor(NpServer& s) {
  for (;;) {
    Result<net::Conn> c = co_await s.ln.Accept();  // TCP_NODELAY is set by Accept
    if (!c) {
      if (c.error() != Errc::closed) s.sh.error("netpoll Accept: " + c.error().message());
      break;
    }
    if (s.sh.cfg.idle_pool) s.loop.spawn(np_pooled_session(s, std::move(*c)));
    else s.loop.spawn(np_session<kReadBuf>(s, std::move(*c)));
    if (s.sh.accepted_one(s.syscalls())) {
      (void)s.ln.Close();
      break;
    }
  }
  s.listening = false;
  s.check_finish();
}

void serve_netpoll(Shared& sh, bool ring) {
  if (!choose_backend(ring)) {
    sh.listening(0, "netpoll_uring: this build has no io_uring backend (build with --config=opt_uring)");
    return;
  }
  net::HookGuard restore;  // no operation is in flight: the table may be written
  install_counting_hooks();
  try {
    NpServer s(sh);
    if (s.ring != ring) {
      sh.listening(0, std::string("netpoll: the Loop runs on ") + std::string(s.loop.backend_name()));
      return;
    }
    Result<net::Listener> ln = net::Listen(s.loop, "tcp", "127.0.0.1:0");
    if (!ln) {
      sh.listening(0, "netpoll Listen: " + ln.error().message());
      return;
    }
    s.ln = std::move(*ln);
    s.listening = true;
    sh.set_wake([&s] { s.loop.post([&s] { s.check_finish(); }); });
    if (sh.cfg.conns == 0) sh.begin_measure(s.syscalls());
    sh.listening(s.ln.Addr().port());
    s.loop.spawn(np_acceptor(s));
    s.loop.run();  // stopped by check_finish
    sh.end_measure(s.syscalls());
    sh.set_wake(nullptr);  // before the Loop goes; a closure it posted and never ran is freed
    if (s.loop.spawned() != 0) abort_run("netpoll server: coroutines left when the run ended");
  } catch (const std::system_error& e) {  // io_uring forced where the kernel refuses it
    sh.listening(0, std::string("netpoll Loop: ") + e.what());
  }
}

// --- libuv: as its own echo-server benchmark --------------------------------------------------

// libuv's benchmark echo server mallocs a 64 KiB buffer in alloc_cb and frees it once the
// write of that data completes. Same protocol here, with the buffers recycled through a free
// list so libuv is not charged for malloc: a buffer stays owned by its write until after_write.
struct UvWrite {
  uv_write_t req;  // first member: after_write recovers the UvWrite from it
  std::array<char, kReadBuf> data;
  UvWrite* next = nullptr;
};

struct UvServer {
  explicit UvServer(Shared& s) : sh(s) {}
  Shared& sh;
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_async_t wake;
  bool listening = false;
  bool wake_open = false;
  UvWrite* free_list = nullptr;
  std::vector<UvWrite*> all;  // every buffer ever made, freed at the end

  ~UvServer() {
    for (UvWrite* w : all) delete w;
  }
  UvWrite* take() {
    if (UvWrite* w = free_list) {
      free_list = w->next;
      return w;
    }
    all.push_back(new UvWrite);
    return all.back();
  }
  void give(UvWrite* w) {
    w->next = free_list;
    free_list = w;
  }
  static UvServer& of(const void* h) {
    return *static_cast<UvServer*>(static_cast<const uv_handle_t*>(h)->data);
  }
  static uv_handle_t* handle(void* h) { return static_cast<uv_handle_t*>(h); }

  void close_listener() {
    if (!listening) return;
    listening = false;
    uv_close(handle(&listener), nullptr);
  }
  // With the listener and the wake handle closed nothing is left active: uv_run returns.
  void check_finish() {
    if (!sh.finished()) return;
    sh.set_wake(nullptr);  // before the handle finish_after() signals is closed
    close_listener();
    if (wake_open) {
      wake_open = false;
      uv_close(handle(&wake), nullptr);
    }
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    UvWrite* w = of(h).take();
    *b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  }
  static UvWrite* owner(const uv_buf_t* b) { return reinterpret_cast<UvWrite*>(b->base - offsetof(UvWrite, data)); }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    UvServer& self = of(s);
    UvWrite* w = b->base ? owner(b) : nullptr;
    if (n > 0) {
      const uv_buf_t wb = uv_buf_init(w->data.data(), static_cast<unsigned>(n));
      w->req.data = &self;
      if (const int e = uv_write(&w->req, s, &wb, 1, &after_write)) {
        self.give(w);
        self.sh.error(std::string("uv_write: ") + uv_strerror(e));
        uv_close(handle(s), &on_closed);
        return;
      }
      self.sh.out.bytes += static_cast<std::uint64_t>(n);
      return;
    }
    if (w) self.give(w);
    if (n == 0) return;  // EAGAIN
    if (n != UV_EOF) self.sh.error(std::string("uv read: ") + uv_strerror(static_cast<int>(n)));
    uv_close(handle(s), &on_closed);
  }
  static void after_write(uv_write_t* req, int status) {
    UvServer& self = *static_cast<UvServer*>(req->data);
    self.give(reinterpret_cast<UvWrite*>(req));
    if (status < 0 && status != UV_ECANCELED) self.sh.error(std::string("uv write: ") + uv_strerror(status));
  }
  static void on_closed(uv_handle_t* h) {
    UvServer& self = of(h);
    delete reinterpret_cast<uv_tcp_t*>(h);
    ++self.sh.out.closed;
    self.check_finish();
  }
  static void on_wake(uv_async_t* a) { of(a).check_finish(); }
  static void on_connection(uv_stream_t* l, int status) {
    UvServer& self = of(l);
    if (status < 0) {
      self.sh.error(std::string("uv listen: ") + uv_strerror(status));
      self.close_listener();
      return;
    }
    auto* c = new uv_tcp_t;  // as libuv's echo server: the handle is the whole connection
    uv_tcp_init(&self.loop, c);
    c->data = &self;
    if (const int e = uv_accept(l, reinterpret_cast<uv_stream_t*>(c))) {
      self.sh.error(std::string("uv_accept: ") + uv_strerror(e));
      uv_close(handle(c), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
      return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start(reinterpret_cast<uv_stream_t*>(c), &on_alloc, &on_read);
    if (self.sh.accepted_one(-1)) self.close_listener();
  }
};

void serve_libuv(Shared& sh) {
  UvServer s(sh);
  uv_loop_init(&s.loop);
  uv_tcp_init(&s.loop, &s.listener);
  s.listener.data = &s;
  uv_async_init(&s.loop, &s.wake, &UvServer::on_wake);
  s.wake.data = &s;
  s.wake_open = true;
  sockaddr_in a{};
  uv_ip4_addr("127.0.0.1", 0, &a);
  int len = sizeof a;
  int e = uv_tcp_bind(&s.listener, reinterpret_cast<const sockaddr*>(&a), 0);
  if (!e) e = uv_listen(reinterpret_cast<uv_stream_t*>(&s.listener), net::listener_backlog(), &UvServer::on_connection);
  if (!e) e = uv_tcp_getsockname(&s.listener, reinterpret_cast<sockaddr*>(&a), &len);
  if (e) {
    sh.listening(0, std::string("libuv listen: ") + uv_strerror(e));
    uv_close(UvServer::handle(&s.listener), nullptr);
    uv_close(UvServer::handle(&s.wake), nullptr);
    uv_run(&s.loop, UV_RUN_DEFAULT);
  } else {
    s.listening = true;
    uv_async_t* w = &s.wake;
    sh.set_wake([w] { uv_async_send(w); });
    if (sh.cfg.conns == 0) sh.begin_measure(-1);
    sh.listening(ntohs(a.sin_port));
    uv_run(&s.loop, UV_RUN_DEFAULT);  // returns once check_finish closed the last handles
    sh.end_measure(-1);
  }
  sh.set_wake(nullptr);
  if (uv_loop_close(&s.loop) != 0) sh.error("uv_loop_close: handles left open");
}

}  // namespace

// --- EchoServer --------------------------------------------------------------------------------

EchoServer::EchoServer(Impl impl, const ServerConfig& cfg) : impl_(impl) {
  thread_ = std::thread([this, cfg] { main(cfg); });
  {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, std::chrono::seconds(10), [&] { return listening_done_; }))
      abort_run(std::string(kImplName[impl]) + " server did not start listening within 10 s");
  }
  if (port_ == 0) abort_run(std::string(kImplName[impl]) + " server: " + join().error);
}

EchoServer::~EchoServer() {
  if (!joined_) (void)join();
}

void EchoServer::main(const ServerConfig& cfg) {
  pin_to_cpu(cfg.cpu);
  Shared sh{*this, cfg, out_};
  switch (impl_) {
    case kRaw: RawServer(sh).run(); break;
    case kRawUring: serve_raw_uring(sh); break;
    case kNetpoll: serve_netpoll(sh, false); break;
    case kNetpollUring: serve_netpoll(sh, true); break;
    case kLibuv: serve_libuv(sh); break;
    case kAsio:
    case kAsioUring: serve_asio_process(sh, impl_); break;
    case kImpls: abort_run("EchoServer: no such implementation");
  }
  if (port_ != 0 && out_.accepted != out_.closed)
    sh.error(std::to_string(out_.accepted - out_.closed) + " connection(s) still open when the run ended");
  std::lock_guard<std::mutex> g(mu_);
  ended_ = true;
  cv_.notify_all();
}

std::uint64_t EchoServer::accepted() const {
  std::shared_ptr<Remote> r;
  {
    std::lock_guard<std::mutex> g(mu_);
    r = remote_;
  }
  if (r) {
    const double n = r->query("accepted");
    return n < 0 ? 0 : static_cast<std::uint64_t>(n);
  }
  return accepted_.load(std::memory_order_acquire);
}

double EchoServer::heap_bytes() const {
  std::shared_ptr<Remote> r;
  {
    std::lock_guard<std::mutex> g(mu_);
    r = remote_;
  }
  return r ? r->query("heap") : bench::heap_bytes();
}

void EchoServer::finish_after(std::uint64_t n) {
  target_.store(n, std::memory_order_release);
  std::lock_guard<std::mutex> g(mu_);
  if (wake_) wake_();
}

ServerOut EchoServer::join() {
  {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, std::chrono::seconds(60), [&] { return ended_; }))
      abort_run(std::string(kImplName[impl_]) + " server did not end within 60 s of its clients");
  }
  if (!joined_) {
    thread_.join();
    joined_ = true;
  }
  return out_;
}

void abort_run(const std::string& what) {
  fail(what);
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

void check_server(const ServerOut& s, Impl impl, std::uint64_t conns, std::uint64_t bytes) {
  const std::string who = std::string(kImplName[impl]) + " server: ";
  if (!s.error.empty()) fail(who + s.error);
  if (s.accepted != conns || s.closed != conns)
    fail(who + "accepted " + std::to_string(s.accepted) + " and closed " + std::to_string(s.closed) +
         " connections; its clients made " + std::to_string(conns));
  if (s.bytes != bytes)
    fail(who + "echoed " + std::to_string(s.bytes) + " bytes; its clients exchanged " + std::to_string(bytes));
}

ServerOut join_checked(EchoServer& server, const ClientOut& client) {
  const std::string who = kImplName[server.impl()];
  if (!client.error.empty()) abort_run(who + " client: " + client.error);
  ServerOut s = server.join();
  check_server(s, server.impl(), client.conns, client.echoed);
  return s;
}

}  // namespace netpoll::bench
