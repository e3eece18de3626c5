// The echo servers of the connection benchmarks (B1 ping-pong, B2 many-connection echo and
// pump, B4 churn, B5 idle set): one copy per implementation, parameterized by how many
// connections a run serves, so that only the server differs between the implementations.
//
//   raw      a minimal hand-written edge-triggered epoll loop (EPOLLIN|EPOLLRDHUP|EPOLLET): the
//            floor. It reads until EAGAIN or a short read (it assumes a short stream read means
//            the queue was empty, which holds for the benchmarks' plain TCP but not in general:
//            a read stops at an urgent byte with bytes still queued; netpoll takes the shortcut
//            only on the kernel's TCP_INQ word, see netpoll/net/internal/fd_posix.h, and libuv stops at a short
//            read; insisting on EAGAIN would cost the floor an extra read per message). A send that cannot complete keeps the rest in a
//            per-connection buffer and waits for EPOLLOUT (epoll_ctl MOD) before reading more;
//   netpoll  net::Loop::run: one coroutine accepting (co_await Listener::Accept) and one
//            coroutine per connection doing co_await Read / co_await Write into its own buffer;
//   libuv    uv_tcp_t per connection + uv_read_start / uv_write, as libuv's echo-server
//            benchmark does it.
//   raw_uring  a minimal hand-written liburing loop (echo_raw_uring.cc says its choices): the
//            io_uring floor;
//   asio, asio_uring  standalone Asio's C++20 coroutines (echo_asio_server.cc), its epoll and
//            its io_uring build. Each runs as a separate server process (the two builds of the
//            header-only Asio in one program would be an ODR violation), driven by a proxy on
//            the EchoServer's thread (echo_asio_proxy.cc): the child measures itself (its
//            server thread's CPU, its operator new calls, its heap) and reports over its
//            stdout; syscalls are not counted in-process (-1; B1's strace run counts them).
//
// Every server listens on 127.0.0.1 (ephemeral port, backlog net::listener_backlog()), sets
// TCP_NODELAY on each accepted connection (netpoll's Accept does; the others match it), echoes
// every byte back, and closes a connection at its end of stream. A run ends once the server
// has accepted and closed the number of connections it was told to serve; the server thread
// then tears everything down (listener, loop, descriptors) before join() returns.
//
// At most one EchoServer exists at a time in a process: the netpoll server counts its syscalls
// through the net layer's global hook table.
//
// allocs and heap figures of the in-process servers are the whole process's (the client's
// share is the same for every implementation); a server process's are its own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "benchmarks/echo_clients.h"
#include "benchmarks/harness.h"

namespace netpoll::bench {

// Server read buffers: 64 KiB, libuv's suggested read size, so a small message is always a
// short read. raw shares one per server and libuv recycles them through a free list; a netpoll
// connection's coroutine owns one (in its frame), or with ServerConfig::idle_pool borrows one
// from a free list while it has bytes, as libuv's alloc_cb does.
inline constexpr std::size_t kReadBuf = 64 * 1024;

struct ServerConfig {
  int cpu = 0;  // the server thread is pinned here
  // The run ends once this many connections have been accepted and closed. 0: not known when
  // the server starts (B4's load generator stops on a clock); finish_after() gives it later.
  std::uint64_t conns = 1;
  // netpoll sessions hold no buffer while idle (B5): they wait with Conn::Readable and borrow
  // a kReadBuf buffer from the server's free list for one Read and its Write.
  bool idle_pool = false;
};

struct ServerOut {
  std::string error;            // the first thing that went wrong; empty on success
  std::uint64_t accepted = 0;
  std::uint64_t closed = 0;
  std::uint64_t bytes = 0;      // echoed back, all connections together
  // Over the measured span: from the moment the server has accepted all `conns` connections
  // (from its start when `conns` was 0) to its end, on the server thread.
  double cpu_ns = 0;            // getrusage(RUSAGE_THREAD)
  std::int64_t syscalls = -1;   // counted in-process (raw: its loop; netpoll: its poller's
                                // stats + the net layer's hook table); -1: libuv cannot count
  std::uint64_t allocs = 0;     // operator new calls in the whole process
};

class EchoServer {
 public:
  // Starts the server thread (pinned to cfg.cpu) and returns once it listens. A server that
  // cannot listen ends the process (abort_run) with the reason.
  EchoServer(Impl impl, const ServerConfig& cfg);
  ~EchoServer();  // joins (see join)
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  Impl impl() const noexcept { return impl_; }
  int port() const noexcept { return port_; }  // on 127.0.0.1
  // Connections accepted and registered so far (any thread): everything the server keeps for
  // each of them has been allocated once this count includes it.
  std::uint64_t accepted() const;
  // Bytes the server's process has on its heap (mallinfo2: in-use chunks, malloc's overhead
  // included, plus mmapped blocks): this process's, or the server process's (asio*), taken
  // on its loop thread between two events (-1 if it could not be asked).
  double heap_bytes() const;
  // For cfg.conns == 0: the run ends after `n` connections in all. Any thread, once; wakes
  // the server, so it may come after the last of them has closed.
  void finish_after(std::uint64_t n);
  // Waits for the server to end and returns what it did. A server that has not ended 60 s
  // after its clients did is a bug that would hang the suite: the process exits 1 (fail).
  ServerOut join();

  // --- for the implementations (echo_servers.cc) ---------------------------------------------
  struct Shared;
  // A server running in another process answers "accepted" and "heap" through its proxy.
  struct Remote {
    virtual ~Remote() = default;
    virtual double query(const char* what) = 0;  // -1 if it cannot answer
  };

 private:
  void main(const ServerConfig& cfg);

  Impl impl_;
  int port_ = 0;
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> target_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool listening_done_ = false;  // guarded by mu_: port_ is final
  bool ended_ = false;           // guarded by mu_: out_ is final
  std::function<void()> wake_;   // guarded by mu_: set while the server runs
  std::shared_ptr<Remote> remote_;  // guarded by mu_: set while a server process runs
  ServerOut out_;
  bool joined_ = false;
  std::thread thread_;
};

// Reports `what` (bench::fail) and exits the process with status 1 at once: for a workload
// that went wrong in a way that leaves threads or peers unable to finish (a client that lost
// its server, a server that never ends), where carrying on would hang the suite.
[[noreturn]] void abort_run(const std::string& what);

// Checks a server's result against what its clients saw: no error, exactly `conns`
// connections accepted and closed, exactly `bytes` echoed. Reports each mismatch with fail().
void check_server(const ServerOut& s, Impl impl, std::uint64_t conns, std::uint64_t bytes);

// The end of a run: a client that failed ends the process (abort_run: its server may wait for
// connections that never come); otherwise joins the server and checks it against the client.
ServerOut join_checked(EchoServer& server, const ClientOut& client);

}  // namespace netpoll::bench
