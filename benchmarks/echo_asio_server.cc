// The asio and asio_uring echo servers (echo_servers.h) as a process of their own:
// //benchmarks:asio_echo_server (Asio's default reactor, epoll) and
// //benchmarks:asio_uring_echo_server (ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL, liburing) are
// this one source compiled twice.
//
// Why a process: Asio is header-only, so each build's io_context, sockets and operations are
// inline functions and classes compiled into the program that includes them. The two builds
// define the same names differently (the reactor types behind asio::io_context differ), and one
// program holding both is an ODR violation: undefined behaviour, in practice the linker keeps
// one build's inline functions for both. So neither build is linked into the benchmark
// binaries; EchoServer starts this one (echo_asio_proxy.cc) and talks to it over its stdio.
//
// Written the way Asio's C++20 coroutine examples write an echo server: an acceptor coroutine
// co_spawning one session coroutine per connection (asio::awaitable, use_awaitable,
// async_read_some + async_write), on one io_context(1) run by the main thread. Errors come
// back through asio::redirect_error instead of exceptions (an exception per closed connection
// would charge Asio for C++ unwinding in the churn benchmark rather than for its I/O). Same
// rules as the other echo servers: 127.0.0.1, TCP_NODELAY on every accepted connection, every
// byte echoed, close at end of stream, the run ends once `conns` connections (or the count a
// later "finish" gives) have been accepted and closed. A session owns a kReadBuf buffer in its
// coroutine frame, or with --idle-pool (B5) waits with async_wait(wait_read) holding none and
// borrows one from a free list for one read and its write, as netpoll's pooled session does.
//
//   asio_echo_server --conns N [--backlog B] [--idle-pool]
//
// Protocol, a line each way. stdout: "listening PORT" (or "error TEXT") first; then the
// answers to stdin's commands, computed on the loop's thread between two events:
//   accepted      -> "accepted N"  (connections accepted and spawned so far)
//   heap          -> "heap BYTES"  (mallinfo2: in-use chunks + mmapped blocks)
//   finish N      -> (none)        the run ends after N connections in all (for --conns 0)
// and at the end "done ACCEPTED CLOSED BYTES CPU_NS ALLOCS [ERROR...]": the loop thread's CPU
// time (getrusage RUSAGE_THREAD) and operator new calls over the measured span (from the
// last accept, or the start with --conns 0, to the end), as the in-process servers measure.
// Two GCC 12 diagnostics about Asio's code, silenced for this file only (before any include,
// as the second is reported inside <atomic>):
//  - at -O1 and above (the sanitizer builds) it inlines each coroutine frame's allocation and
//    then reports Asio's own class-specific pair, awaitable_frame_base's operator new and sized
//    operator delete, as mismatched (-Wmismatched-new-delete): a false positive;
//  - under -fsanitize=thread it notes that ThreadSanitizer does not model the
//    std::atomic_thread_fence of Asio's fenced blocks (-Wtsan): a limit of the checker, which
//    could only make it report a race that is not one, never miss one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#pragma GCC diagnostic ignored "-Wtsan"
#endif
#include <malloc.h>
#include <sys/resource.h>

#include <array>
#include <asio.hpp>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/buffer_pool.h"
#include "test/alloc_counter.h"

namespace {

using asio::ip::tcp;
constexpr std::size_t kReadBuf = 64 * 1024;  // echo_servers.h's

double process_cpu_ns() noexcept {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (double(ru.ru_utime.tv_sec) + double(ru.ru_stime.tv_sec)) * 1e9 +
         (double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_usec)) * 1e3;
}

struct Server {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::uint64_t conns = 0, target = 0;  // target: conns, or what "finish" said
  bool idle_pool = false;
  bool listening = false;
  std::uint64_t accepted = 0, closed = 0, bytes = 0;
  double cpu0 = 0;
  std::uint64_t allocs0 = 0;
  std::string error;

  netpoll::bench::BufferPool<kReadBuf> pool;  // --idle-pool's buffers

  void fail(const std::string& what, const asio::error_code& ec) {
    if (error.empty()) error = what + ": " + ec.message();
  }
  void begin_measure() {
    cpu0 = process_cpu_ns();
    allocs0 = netpoll::testing::allocation_count();
  }
  // Closing the acceptor ends the acceptor coroutine; with no session left either, io.run()
  // runs out of work and returns.
  void check_finish() {
    if (target == 0 || closed < target) return;
    if (listening) {
      asio::error_code ec;
      acceptor.close(ec);
    }
  }
  void session_ended(tcp::socket& s) {
    asio::error_code ec;
    s.close(ec);
    ++closed;
    check_finish();
  }
};

asio::awaitable<void> session(Server& srv, tcp::socket s) {
  std::array<char, kReadBuf> buf;  // in the coroutine frame
  asio::error_code ec;
  for (;;) {
    const std::size_t n = co_await s.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec != asio::error::eof) srv.fail("asio read", ec);
      break;
    }
    co_await asio::async_write(s, asio::buffer(buf.data(), n), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      srv.fail("asio write", ec);
      break;
    }
    srv.bytes += n;
  }
  srv.session_ended(s);
}

// The same session holding no buffer while idle.
asio::awaitable<void> pooled_session(Server& srv, tcp::socket s) {
  asio::error_code ec;
  for (;;) {
    co_await s.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      srv.fail("asio wait", ec);
      break;
    }
    auto* b = srv.pool.take();
    const std::size_t n = co_await s.async_read_some(asio::buffer(b->data), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      srv.pool.give(b);
      if (ec != asio::error::eof) srv.fail("asio read", ec);
      break;
    }
    co_await asio::async_write(s, asio::buffer(b->data.data(), n), asio::redirect_error(asio::use_awaitable, ec));
    srv.pool.give(b);
    if (ec) {
      srv.fail("asio write", ec);
      break;
    }
    srv.bytes += n;
  }
  srv.session_ended(s);
}

asio::awaitable<void> listener(Server& srv) {
  for (;;) {
    asio::error_code ec;
    tcp::socket s = co_await srv.acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec != asio::error::operation_aborted) srv.fail("asio accept", ec);
      break;
    }
    s.set_option(tcp::no_delay(true), ec);
    if (ec) srv.fail("asio TCP_NODELAY", ec);
    if (srv.idle_pool) asio::co_spawn(srv.io, pooled_session(srv, std::move(s)), asio::detached);
    else asio::co_spawn(srv.io, session(srv, std::move(s)), asio::detached);
    if (++srv.accepted == srv.conns) {
      srv.begin_measure();
      srv.acceptor.close(ec);
      break;
    }
  }
  srv.listening = false;
  srv.check_finish();
}

// stdin's commands, read on a thread of their own and answered on the loop's.
void control(Server& srv) {
  for (std::string line; std::getline(std::cin, line);) {
    if (line == "accepted") {
      asio::post(srv.io, [&srv] {
        std::printf("accepted %llu\n", static_cast<unsigned long long>(srv.accepted));
        std::fflush(stdout);
      });
    } else if (line == "heap") {
      asio::post(srv.io, [] {
        const struct mallinfo2 m = ::mallinfo2();
        std::printf("heap %.0f\n", double(m.uordblks) + double(m.hblkhd));
        std::fflush(stdout);
      });
    } else if (line.rfind("finish ", 0) == 0) {
      const std::uint64_t n = std::strtoull(line.c_str() + 7, nullptr, 10);
      asio::post(srv.io, [&srv, n] {
        srv.target = n;
        srv.check_finish();
      });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Server srv;
  int backlog = asio::socket_base::max_listen_connections;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--conns" && i + 1 < argc) srv.conns = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--backlog" && i + 1 < argc) backlog = std::atoi(argv[++i]);
    else if (a == "--idle-pool") srv.idle_pool = true;
    else {
      std::fprintf(stderr, "usage: %s --conns N [--backlog B] [--idle-pool]\n", argv[0]);
      return 2;
    }
  }
  srv.target = srv.conns;
  asio::error_code ec;
  const tcp::endpoint at(asio::ip::address_v4::loopback(), 0);
  srv.acceptor.open(at.protocol(), ec);
  if (!ec) srv.acceptor.bind(at, ec);
  if (!ec) srv.acceptor.listen(backlog, ec);
  const tcp::endpoint bound = ec ? at : srv.acceptor.local_endpoint(ec);
  if (ec) {
    std::printf("error asio listen: %s\n", ec.message().c_str());
    return 1;
  }
  srv.listening = true;
  asio::co_spawn(srv.io, listener(srv), asio::detached);
  if (srv.conns == 0) srv.begin_measure();
  std::printf("listening %u\n", unsigned(bound.port()));
  std::fflush(stdout);
  std::thread(control, std::ref(srv)).detach();
  srv.io.run();
  const double cpu = process_cpu_ns() - srv.cpu0;
  const std::uint64_t allocs = netpoll::testing::allocation_count() - srv.allocs0;
  if (srv.accepted != srv.closed && srv.error.empty())
    srv.error = std::to_string(srv.accepted - srv.closed) + " connection(s) still open when the run ended";
  std::printf("done %llu %llu %llu %.0f %llu %s\n", static_cast<unsigned long long>(srv.accepted),
              static_cast<unsigned long long>(srv.closed), static_cast<unsigned long long>(srv.bytes), cpu,
              static_cast<unsigned long long>(allocs), srv.error.c_str());
  std::fflush(stdout);
  std::_Exit(0);  // the control thread may still be reading stdin: nothing of srv may go first
}
