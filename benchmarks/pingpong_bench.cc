// B1 (benchmarks.md): ping-pong over one loopback TCP connection, 5-byte messages, client and
// server pinned to the same CPU. One shared client; three servers, run interleaved
// (raw, netpoll, libuv, raw, ...) for several repetitions; median and min reported.
//
//   raw      hand-written edge-triggered epoll loop (EPOLLIN|EPOLLRDHUP|EPOLLET): the floor.
//            It reads until EAGAIN or a short read: a short stream read means the queue was
//            empty, and netpoll and libuv both stop there too; insisting on EAGAIN would cost
//            the floor a 4th syscall per round trip (benchmarks.md's anchor is 3 per side);
//   netpoll  net::Loop::run, a coroutine doing co_await Read / co_await Write;
//   libuv    uv_tcp_t + uv_read_start / uv_write, as libuv's echo-server benchmark does it.
//
// Measured on the server side: CPU time (getrusage RUSAGE_THREAD, server thread only) and
// syscalls per round trip — counted in-process where the implementation can count its own
// (raw: in its loop; netpoll: the poller's stats plus the net layer's syscall hooks), and for
// all three by a `strace -f -c` calibration run of the server alone in a child process, as the
// difference between two round-trip counts (so start-up and shutdown cancel out).
//
// Nothing here asserts a time. The run fails (exit 1) only if a workload did not complete
// correctly: every echo is compared byte for byte, and the server must have echoed exactly
// what the client sent.
//
//   pingpong_bench [--smoke] [--reps N] [--seconds S] [--no-strace] [--json PATH]
//                  [--impl raw,netpoll,libuv]   (a subset, for profiling; writes no results)
//   pingpong_bench --serve raw|netpoll|libuv     (the strace calibration child)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "net/net.h"
#include "net/sys_posix.h"
#include "poller/clock.h"
#include "benchmarks/harness.h"
#include "test/alloc_counter.h"

extern char** environ;

namespace {

using netpoll::now_ns;
using netpoll::Result;
namespace net = netpoll::net;
namespace bench = netpoll::bench;
using bench::Impl;
using bench::kImplName;
using bench::kImpls;
using bench::kLibuv;
using bench::kNetpoll;
using bench::kRaw;
using bench::fail;
using bench::errno_text;
using bench::thread_cpu_ns;

constexpr std::size_t kMsg = 5;
// Every server reads into 64 KiB, libuv's suggested read size: a 5-byte read is always short,
// which tells each of them the socket is drained without a read that fails with EAGAIN.
constexpr std::size_t kReadBuf = 64 * 1024;

void pin_to_cpu0() { bench::pin_to_cpu(0); }

// --- what a server reports -------------------------------------------------------------------

struct ServerOut {
  std::string error;
  std::uint64_t bytes = 0;      // echoed back
  double cpu_ns = 0;            // server thread, from accept to end of stream
  std::int64_t syscalls = -1;   // counted in-process over the same span; -1 when it cannot count
  std::uint64_t allocs = 0;     // operator new calls in the process over the same span
};

// The server thread publishes its port here once it listens (or an error).
class PortSlot {
 public:
  void set(int port, std::string err = {}) {
    {
      std::lock_guard<std::mutex> g(mu_);
      port_ = port;
      err_ = std::move(err);
    }
    cv_.notify_all();
  }
  // 0 on failure or timeout (`err` says why).
  int wait(std::string& err) {
    std::unique_lock<std::mutex> g(mu_);
    if (!cv_.wait_for(g, std::chrono::seconds(10), [&] { return port_ != 0; })) {
      err = "server did not start listening within 10 s";
      return 0;
    }
    if (port_ < 0) err = err_;
    return port_ > 0 ? port_ : 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int port_ = 0;  // 0: not yet; -1: failed
  std::string err_;
};

// A blocking listening socket on 127.0.0.1, ephemeral port (raw server; the others listen
// through their own API).
int listen_loopback(int* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

// --- raw: the physical floor -----------------------------------------------------------------

ServerOut serve_raw(PortSlot& slot) {
  ServerOut out;
  int port = 0;
  const int lfd = listen_loopback(&port);
  if (lfd < 0) {
    slot.set(-1, errno_text("raw listen"));
    out.error = "listen failed";
    return out;
  }
  slot.set(port);
  const int cfd = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  ::close(lfd);
  if (cfd < 0) {
    out.error = errno_text("raw accept4");
    return out;
  }
  const int one = 1;
  ::setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event reg{};
  reg.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
  reg.data.fd = cfd;
  if (ep < 0 || ::epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &reg) != 0) {
    out.error = errno_text("raw epoll");
    ::close(cfd);
    if (ep >= 0) ::close(ep);
    return out;
  }
  static thread_local std::array<char, kReadBuf> buf;
  std::int64_t sys = 0;
  const double cpu0 = thread_cpu_ns();
  const std::uint64_t a0 = netpoll::testing::allocation_count();
  // Sends all of n bytes; the send buffer of a 5-byte ping-pong never fills, but if it did the
  // wait for POLLOUT is counted like any other syscall.
  auto send_all = [&](const char* p, std::size_t n) {
    while (n > 0) {
      ++sys;
      const ssize_t w = ::send(cfd, p, n, MSG_NOSIGNAL);
      if (w > 0) {
        p += w;
        n -= static_cast<std::size_t>(w);
      } else if (w < 0 && errno == EAGAIN) {
        ++sys;
        pollfd pfd{cfd, POLLOUT, 0};
        ::poll(&pfd, 1, -1);
      } else if (!(w < 0 && errno == EINTR)) {
        out.error = errno_text("raw send");
        return false;
      }
    }
    return true;
  };
  bool open = true;
  epoll_event evs[8];
  while (open) {
    ++sys;
    const int n = ::epoll_wait(ep, evs, 8, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = errno_text("raw epoll_wait");
      break;
    }
    for (int i = 0; i < n && open; ++i) {
      // Edge-triggered: read until the socket is drained. A short read means it is (the next
      // arrival raises a new edge), so only a full buffer reads again.
      for (;;) {
        ++sys;
        const ssize_t r = ::read(cfd, buf.data(), buf.size());
        if (r > 0) {
          if (!send_all(buf.data(), static_cast<std::size_t>(r))) {
            open = false;
            break;
          }
          out.bytes += static_cast<std::uint64_t>(r);
          if (static_cast<std::size_t>(r) < buf.size()) break;
        } else if (r == 0) {
          open = false;
          break;
        } else if (errno == EAGAIN) {
          break;
        } else if (errno != EINTR) {
          out.error = errno_text("raw read");
          open = false;
          break;
        }
      }
    }
  }
  out.cpu_ns = thread_cpu_ns() - cpu0;
  out.syscalls = sys;
  out.allocs = netpoll::testing::allocation_count() - a0;
  ::close(ep);
  ::close(cfd);
  return out;
}

// --- netpoll: the coroutine Loop --------------------------------------------------------------

// The net layer's syscalls, counted through its hook table (net/sys_posix.h) while the
// netpoll server runs. Only the server thread calls through the table in this process.
std::atomic<std::uint64_t> g_np_io_calls{0};
ssize_t counting_read(int fd, void* b, size_t n) {
  g_np_io_calls.fetch_add(1, std::memory_order_relaxed);
  return net::kRealSys.read(fd, b, n);
}
ssize_t counting_send(int fd, const void* b, size_t n, int flags) {
  g_np_io_calls.fetch_add(1, std::memory_order_relaxed);
  return net::kRealSys.send(fd, b, n, flags);
}
ssize_t counting_sendmsg(int fd, const msghdr* m, int flags) {
  g_np_io_calls.fetch_add(1, std::memory_order_relaxed);
  return net::kRealSys.sendmsg(fd, m, flags);
}

std::uint64_t np_poller_syscalls(net::Loop& loop) {
  const netpoll::PollerStats s = loop.netpoll().backend().stats();
  return s.waits + s.wake_signals + s.wake_drains + s.registrations + s.deregistrations;
}

net::Task<void> np_session(net::Loop& loop, net::Listener& ln, ServerOut& out) {
  Result<net::Conn> c = co_await ln.Accept();  // TCP_NODELAY is set by Accept
  (void)ln.Close();
  if (!c) {
    out.error = "netpoll Accept: " + c.error().message();
    loop.stop();
    co_return;
  }
  std::array<std::byte, kReadBuf> buf;  // in the coroutine frame, allocated once
  const double cpu0 = thread_cpu_ns();
  const std::uint64_t a0 = netpoll::testing::allocation_count();
  const std::uint64_t p0 = np_poller_syscalls(loop);
  const std::uint64_t io0 = g_np_io_calls.load(std::memory_order_relaxed);
  for (;;) {
    Result<std::size_t> n = co_await c->Read(std::span<std::byte>(buf));
    if (!n) {
      out.error = "netpoll Read: " + n.error().message();
      break;
    }
    if (*n == 0) break;
    Result<std::size_t> w = co_await c->Write(std::span<const std::byte>(buf.data(), *n));
    if (!w) {
      out.error = "netpoll Write: " + w.error().message();
      break;
    }
    out.bytes += *n;
  }
  out.cpu_ns = thread_cpu_ns() - cpu0;
  out.allocs = netpoll::testing::allocation_count() - a0;
  out.syscalls = static_cast<std::int64_t>(np_poller_syscalls(loop) - p0 +
                                           g_np_io_calls.load(std::memory_order_relaxed) - io0);
  (void)c->Close();
  loop.stop();
}

ServerOut serve_netpoll(PortSlot& slot) {
  ServerOut out;
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  if (!ln) {
    slot.set(-1, "netpoll Listen: " + ln.error().message());
    out.error = "listen failed";
    return out;
  }
  slot.set(ln->Addr().port());
  loop.spawn(np_session(loop, *ln, out));
  loop.run();  // np_session stops it at end of stream
  return out;
}

// --- libuv: as its own echo-server benchmark --------------------------------------------------

// libuv's benchmark echo server mallocs a 64 KiB buffer in alloc_cb and frees it once the
// write of that data completes. Same protocol here, with the buffers recycled through a free
// list so libuv is not charged for malloc: the buffer stays owned by its write until after_write.
struct UvWrite {
  uv_write_t req;
  std::array<char, kReadBuf> data;
  UvWrite* next = nullptr;
};

struct UvServer {
  uv_loop_t loop;
  uv_tcp_t listener;
  uv_tcp_t conn;
  UvWrite* free_list = nullptr;
  std::vector<UvWrite*> all;  // every buffer ever made, freed at the end
  ServerOut* out = nullptr;
  double cpu0 = 0;
  std::uint64_t a0 = 0;

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
  static UvServer& of(void* h) { return *static_cast<UvServer*>(static_cast<uv_handle_t*>(h)->data); }

  void end(std::string err) {
    if (out->error.empty()) out->error = std::move(err);
    out->cpu_ns = thread_cpu_ns() - cpu0;
    out->allocs = netpoll::testing::allocation_count() - a0;
    uv_close(reinterpret_cast<uv_handle_t*>(&conn), nullptr);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* b) {
    UvWrite* w = of(h).take();
    *b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  }
  static UvWrite* owner(const uv_buf_t* b) {
    return reinterpret_cast<UvWrite*>(b->base - offsetof(UvWrite, data));
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
    UvServer& self = of(s);
    UvWrite* w = b->base ? owner(b) : nullptr;
    if (n > 0) {
      const uv_buf_t wb = uv_buf_init(w->data.data(), static_cast<unsigned>(n));
      w->req.data = &self;
      if (const int e = uv_write(&w->req, s, &wb, 1, &after_write)) {
        self.give(w);
        self.end(std::string("uv_write: ") + uv_strerror(e));
        return;
      }
      self.out->bytes += static_cast<std::uint64_t>(n);
      return;
    }
    if (w) self.give(w);
    if (n == UV_EOF) self.end({});
    else if (n < 0) self.end(std::string("uv read: ") + uv_strerror(static_cast<int>(n)));
  }
  static void after_write(uv_write_t* req, int status) {
    UvServer& self = *static_cast<UvServer*>(req->data);
    self.give(reinterpret_cast<UvWrite*>(req));  // req is UvWrite's first member
    if (status < 0 && self.out->error.empty()) self.out->error = std::string("uv write: ") + uv_strerror(status);
  }
  static void on_connection(uv_stream_t* l, int status) {
    UvServer& self = of(l);
    if (status < 0) {
      self.out->error = std::string("uv listen: ") + uv_strerror(status);
      uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);
      return;
    }
    uv_tcp_init(&self.loop, &self.conn);
    self.conn.data = &self;
    if (const int e = uv_accept(l, reinterpret_cast<uv_stream_t*>(&self.conn))) {
      self.out->error = std::string("uv_accept: ") + uv_strerror(e);
      uv_close(reinterpret_cast<uv_handle_t*>(&self.conn), nullptr);
    } else {
      uv_tcp_nodelay(&self.conn, 1);
      self.cpu0 = thread_cpu_ns();
      self.a0 = netpoll::testing::allocation_count();
      uv_read_start(reinterpret_cast<uv_stream_t*>(&self.conn), &on_alloc, &on_read);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);  // one connection per run
  }
};

ServerOut serve_libuv(PortSlot& slot) {
  ServerOut out;
  UvServer s;
  s.out = &out;
  uv_loop_init(&s.loop);
  uv_tcp_init(&s.loop, &s.listener);
  s.listener.data = &s;
  sockaddr_in a{};
  uv_ip4_addr("127.0.0.1", 0, &a);
  int len = sizeof a;
  int e = uv_tcp_bind(&s.listener, reinterpret_cast<const sockaddr*>(&a), 0);
  if (!e) e = uv_listen(reinterpret_cast<uv_stream_t*>(&s.listener), 16, &UvServer::on_connection);
  if (!e) e = uv_tcp_getsockname(&s.listener, reinterpret_cast<sockaddr*>(&a), &len);
  if (e) {
    slot.set(-1, std::string("libuv listen: ") + uv_strerror(e));
    out.error = "listen failed";
    uv_close(reinterpret_cast<uv_handle_t*>(&s.listener), nullptr);
  } else {
    slot.set(ntohs(a.sin_port));
  }
  uv_run(&s.loop, UV_RUN_DEFAULT);  // returns once the connection and listener are closed
  if (uv_loop_close(&s.loop) != 0 && out.error.empty()) out.error = "uv_loop_close: handles left open";
  for (UvWrite* w : s.all) delete w;
  return out;
}

ServerOut serve(Impl impl, PortSlot& slot) {
  pin_to_cpu0();
  switch (impl) {
    case kRaw: return serve_raw(slot);
    case kNetpoll: return serve_netpoll(slot);
    default: return serve_libuv(slot);
  }
}

// --- the shared client ------------------------------------------------------------------------

struct ClientOut {
  std::string error;
  std::uint64_t round_trips = 0;
  double seconds = 0;
};

// Blocking socket: write 5 bytes, read 5 bytes, compare, repeat `rounds` times or until
// `seconds` have passed (whichever is given). Runs on the calling thread, which it pins.
ClientOut run_client(int port, std::uint64_t rounds, double seconds) {
  pin_to_cpu0();
  ClientOut out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    out.error = errno_text("client socket");
    return out;
  }
  timeval tv{10, 0};  // a server that stops answering fails the run instead of hanging it
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    out.error = errno_text("client connect");
    ::close(fd);
    return out;
  }
  const std::int64_t t0 = now_ns();
  const std::int64_t stop_at = seconds > 0 ? t0 + static_cast<std::int64_t>(seconds * 1e9) : 0;
  unsigned char msg[kMsg], got[kMsg];
  std::uint64_t i = 0;
  for (;; ++i) {
    if (rounds ? i == rounds : ((i & 63) == 0 && now_ns() >= stop_at)) break;
    for (std::size_t k = 0; k < kMsg; ++k) msg[k] = static_cast<unsigned char>(i * 7 + k);
    if (::send(fd, msg, kMsg, MSG_NOSIGNAL) != static_cast<ssize_t>(kMsg)) {
      out.error = errno_text("client send");
      break;
    }
    std::size_t have = 0;
    ssize_t r = 1;
    while (have < kMsg && (r = ::recv(fd, got + have, kMsg - have, 0)) > 0) have += static_cast<std::size_t>(r);
    if (have != kMsg) {
      out.error = r == 0 ? "client recv: end of stream mid-echo" : errno_text("client recv");
      break;
    }
    if (std::memcmp(msg, got, kMsg) != 0) {
      out.error = "echo differs at round trip " + std::to_string(i);
      break;
    }
  }
  out.seconds = double(now_ns() - t0) / 1e9;
  out.round_trips = i;
  ::close(fd);
  return out;
}

// --- one measured run -------------------------------------------------------------------------

struct Sample {
  double rate = 0;  // round trips/s, client-measured
  double cpu_ns_per_rt = 0;
  double syscalls_per_rt = -1;
  double allocs_per_rt = 0;
};

Sample run_pair(Impl impl, std::uint64_t rounds, double seconds) {
  std::optional<net::HookGuard> hooks;
  if (impl == kNetpoll) {  // no operation is in flight: the table may be written
    hooks.emplace();
    net::sys.read = &counting_read;
    net::sys.send = &counting_send;
    net::sys.sendmsg = &counting_sendmsg;
  }
  PortSlot slot;
  ServerOut server;
  std::thread st([&] { server = serve(impl, slot); });
  std::string err;
  const int port = slot.wait(err);
  ClientOut client;
  if (port) {
    std::thread ct([&] { client = run_client(port, rounds, seconds); });
    ct.join();
  } else {
    client.error = err;
  }
  st.join();  // the server ends at the client's end of stream (or failed before listening)
  Sample s;
  const std::string who = std::string(kImplName[impl]) + ": ";
  if (!client.error.empty()) fail(who + client.error);
  if (!server.error.empty()) fail(who + server.error);
  if (server.bytes != client.round_trips * kMsg)
    fail(who + "server echoed " + std::to_string(server.bytes) + " bytes, client exchanged " +
         std::to_string(client.round_trips * kMsg));
  if (client.round_trips == 0) return s;
  const double rt = double(client.round_trips);
  s.rate = rt / client.seconds;
  s.cpu_ns_per_rt = server.cpu_ns / rt;
  s.syscalls_per_rt = server.syscalls < 0 ? -1 : double(server.syscalls) / rt;
  s.allocs_per_rt = double(server.allocs) / rt;
  return s;
}

// --- strace calibration -----------------------------------------------------------------------

// The calibration child: one server, on this process's main thread, port on stdout.
int serve_child(Impl impl) {
  // If the parent never connects, die rather than leave a traced orphan waiting forever.
  alarm(60);
  PortSlot slot;
  ServerOut out;
  std::thread st([&] { out = serve(impl, slot); });
  std::string err;
  const int port = slot.wait(err);
  if (port) {
    std::printf("%d\n", port);
    std::fflush(stdout);
  }
  st.join();
  if (!out.error.empty()) std::fprintf(stderr, "pingpong_bench --serve: %s\n", out.error.c_str());
  return port && out.error.empty() ? 0 : 1;
}

// Total syscalls strace counted for a child server that served `rounds` round trips; -1 if
// strace is unavailable or the run failed.
std::int64_t strace_total(const std::string& self, Impl impl, std::uint64_t rounds) {
  char outfile[] = "/tmp/pingpong_strace_XXXXXX";
  const int ofd = mkstemp(outfile);
  if (ofd < 0) return -1;
  ::close(ofd);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
  std::vector<std::string> args = {"strace", "-f", "-c", "-o", outfile, self, "--serve", kImplName[impl]};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_err = posix_spawnp(&pid, "strace", &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(pipefd[1]);
  std::int64_t total = -1;
  if (spawn_err == 0) {
    // The port line; strace's own start-up is slow, so allow generous time.
    std::string line;
    pollfd pfd{pipefd[0], POLLIN, 0};
    char c;
    while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 20000) > 0 && ::read(pipefd[0], &c, 1) == 1)
      line += c;
    const int port = std::atoi(line.c_str());
    bool ok = false;
    if (port > 0) {
      ClientOut co;
      std::thread ct([&] { co = run_client(port, rounds, 0); });
      ct.join();
      ok = co.error.empty() && co.round_trips == rounds;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);  // the child ends at end of stream (or never got a client)
    if (ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      // The summary's last line: "100.00  secs  usecs/call  calls  [errors]  total".
      std::ifstream in(outfile);
      std::string l, last;
      while (std::getline(in, l))
        if (l.find("total") != std::string::npos) last = l;
      std::istringstream ss(last);
      std::vector<std::string> tok;
      for (std::string t; ss >> t;) tok.push_back(t);
      if (tok.size() >= 5 && tok.back() == "total") total = std::atoll(tok[3].c_str());
    }
  }
  ::close(pipefd[0]);
  ::unlink(outfile);
  return total;
}

// Syscalls per round trip from two calibration runs of different lengths.
double strace_per_rt(const std::string& self, Impl impl, std::uint64_t n1, std::uint64_t n2) {
  const std::int64_t a = strace_total(self, impl, n1);
  const std::int64_t b = strace_total(self, impl, n2);
  if (a < 0 || b < 0 || b <= a) return -1;
  return double(b - a) / double(n2 - n1);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options o = bench::parse_options(argc, argv, " [--no-strace] | --serve raw|netpoll|libuv");
  bool use_strace = true;
  for (std::size_t i = 0; i < o.rest.size(); ++i) {
    if (o.rest[i] == "--no-strace") use_strace = false;
    else if (o.rest[i] == "--serve" && i + 1 < o.rest.size()) {
      for (int k = 0; k < kImpls; ++k)
        if (o.rest[i + 1] == kImplName[k]) return serve_child(static_cast<Impl>(k));
      std::fprintf(stderr, "pingpong_bench: --serve raw|netpoll|libuv\n");
      return 2;
    } else {
      std::fprintf(stderr, "pingpong_bench: unknown argument %s\n", o.rest[i].c_str());
      return 2;
    }
  }
  // --smoke: a few hundred round trips per server, one repetition; checks completion only.
  const std::uint64_t smoke_rounds = 300;
  std::fprintf(stderr, "B1 ping-pong: 1 TCP connection over loopback, %zu-byte message, client and server on CPU 0%s\n",
               kMsg, o.smoke ? " (smoke: figures meaningless)" : "");

  // A short warm-up per server (page faults, the first slab, libuv's first allocations).
  if (!o.smoke)
    for (int k = 0; k < kImpls; ++k)
      if (o.enabled[k]) (void)run_pair(static_cast<Impl>(k), 0, 0.2);

  std::vector<Sample> samples[kImpls];
  std::vector<double> rates[kImpls];
  bench::interleave(o, "B1", [&](Impl k, int) {
    samples[k].push_back(run_pair(k, o.smoke ? smoke_rounds : 0, o.smoke ? 0 : o.seconds));
    return samples[k].back().rate;
  }, rates);

  double strace_rt[kImpls] = {-1, -1, -1};
  if (use_strace) {
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
      self[n] = 0;
      const std::uint64_t n1 = o.smoke ? 100 : 2000, n2 = o.smoke ? 300 : 6000;
      std::fprintf(stderr, "  [B1 strace -f -c calibration: %llu and %llu round trips per server]\n",
                   static_cast<unsigned long long>(n1), static_cast<unsigned long long>(n2));
      for (int k = 0; k < kImpls; ++k)
        if (o.enabled[k]) strace_rt[k] = strace_per_rt(self, static_cast<Impl>(k), n1, n2);
    }
    if (strace_rt[kRaw] < 0 && strace_rt[kNetpoll] < 0 && strace_rt[kLibuv] < 0)
      std::fprintf(stderr, "  strace calibration unavailable (no strace, or ptrace not permitted): n/a\n");
  }

  auto med = [&](auto get) {
    double out[kImpls];
    for (int k = 0; k < kImpls; ++k) {
      std::vector<double> v;
      for (const Sample& s : samples[k]) v.push_back(get(s));
      out[k] = o.enabled[k] ? bench::median(v) : -1;
    }
    return std::to_array(out);
  };
  auto arr = [](const std::array<double, kImpls>& a) -> const double(&)[kImpls] {
    return *reinterpret_cast<const double(*)[kImpls]>(a.data());
  };
  const auto rate = med([](const Sample& s) { return s.rate; });
  double mn[kImpls];
  for (int k = 0; k < kImpls; ++k) mn[k] = bench::minimum(rates[k]);
  const auto cpu_us = med([](const Sample& s) { return s.cpu_ns_per_rt / 1e3; });
  const auto sys = med([](const Sample& s) { return s.syscalls_per_rt; });
  const auto allocs = med([](const Sample& s) { return s.allocs_per_rt; });

  std::printf("%s", bench::table_header("B1 ping-pong, 1 conn, 5 B, same CPU").c_str());
  std::printf("%s", bench::table_row("round trips/s, median of " + std::to_string(o.reps), arr(rate), 0).c_str());
  std::printf("%s", bench::table_row("round trips/s, min of " + std::to_string(o.reps), mn, 0).c_str());
  std::printf("%s", bench::table_row("server syscalls/rt, counted in-process", arr(sys), 2, false).c_str());
  std::printf("%s", bench::table_row("server syscalls/rt, strace -f -c", strace_rt, 2, false).c_str());
  std::printf("%s", bench::table_row("server CPU us/rt (getrusage, median)", arr(cpu_us), 2).c_str());
  std::printf("%s", bench::table_row("operator new calls/rt (process)", arr(allocs), 3, false).c_str());

  bench::Entry e;
  e.id = "B1";
  e.name = "ping-pong, 1 TCP connection, 5-byte message, same CPU";
  e.metric = "round trips/s (median of " + std::to_string(o.reps) + " x " + bench::fmt(o.seconds, 1) + " s)";
  e.unit = "round trips/s";
  for (int k = 0; k < kImpls; ++k) e.value[k] = rate[k];
  e.extra = "\"min\": " + bench::triple_json(mn, 1) +
            ", \"server_syscalls_per_rt_counted\": " + bench::triple_json(arr(sys), 3) +
            ", \"server_syscalls_per_rt_strace\": " + bench::triple_json(strace_rt, 3) +
            ", \"server_cpu_us_per_rt\": " + bench::triple_json(arr(cpu_us), 3) +
            ", \"allocs_per_rt\": " + bench::triple_json(arr(allocs), 3);
  if (!bench::write_entry(o, e)) bench::fail("could not write the B1 result");
  if (bench::failures()) {
    std::fprintf(stderr, "pingpong_bench: %d workload(s) failed\n", bench::failures());
    return 1;
  }
  return 0;
}
