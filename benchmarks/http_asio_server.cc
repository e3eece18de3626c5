// B3's asio and asio_uring servers (docs/benchmarks.md): http_servers.cc's protocol engine
// (examples/http.h's Session) under standalone Asio's C++20 coroutines. One source, two
// programs: //benchmarks:http_asio_server (Asio's default epoll reactor) and
// //benchmarks:http_asio_uring_server (ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL): the two builds
// of the header-only Asio must not share a program (an ODR violation; echo_asio_server.cc
// says more). http_bench_server --impl asio|asio_uring execs the matching one, so B3's driver
// and its server handling (http_server_process.h) see one server binary.
//
//   http_asio_server --impl asio [ADDR]    (http_asio_uring_server --impl asio_uring [ADDR])
//
// As the other B3 servers: prints "listening on <ip:port>", serves until SIGTERM / SIGINT
// (an asio::signal_set), closes every connection and exits 0. Driving rules as http_servers.cc
// states them: per batch of input read into Session::read_space(), process(), one write of
// output() (async_write: all of it, and nothing more is read meanwhile); Next::write: write,
// then process() again; Next::close: after the last response, half-close and drain the peer's
// input (at most 1 MiB, at most 2 s) when Session::unread_input(), then close; TCP_NODELAY on
// every accepted connection. Written as Asio's coroutine examples are: an acceptor coroutine
// co_spawning a coroutine per connection, errors through asio::redirect_error. A connection
// keeps its Session (and so its buffers) for its lifetime, as the raw and libuv servers do.
// Only one loop: B9's --loops N has no Asio server (scale_bench compares raw, netpoll, libuv).
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
#include <algorithm>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <list>
#include <string>

#include "benchmarks/http_server_args.h"
#include "examples/http.h"

namespace {

namespace http = netpoll::examples::http;
using asio::ip::tcp;
using Next = http::Session::Next;

#if defined(ASIO_HAS_IO_URING) && defined(ASIO_DISABLE_EPOLL)
constexpr const char* kProg = "http_asio_uring_server";
constexpr const char* kImpl = "asio_uring";
#else
constexpr const char* kProg = "http_asio_server";
constexpr const char* kImpl = "asio";
#endif
constexpr std::size_t kDrainBudget = 1 << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);

struct Server {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io, SIGTERM, SIGINT};
  http::Responses responses;
  std::list<tcp::socket*> conns;  // every open connection, for shutdown
  bool stopping = false;
};

// Next::close with input unread: half-close, then discard the peer's input until it closes,
// within the byte and time bounds.
asio::awaitable<void> linger(tcp::socket& s, http::Session& ses) {
  asio::error_code ec;
  s.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  asio::steady_timer deadline(s.get_executor(), kDrainTime);
  deadline.async_wait([&s](const asio::error_code& e) {
    asio::error_code ignored;
    if (!e) s.cancel(ignored);  // the drain's read ends with operation_aborted
  });
  for (std::size_t budget = kDrainBudget; budget > 0;) {
    const std::span<std::byte> sp = ses.drain_space();
    const std::size_t n = co_await s.async_read_some(asio::buffer(sp.data(), sp.size()),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    budget -= std::min(budget, n);
  }
  deadline.cancel();  // its handler then runs with operation_aborted and touches nothing
}

asio::awaitable<void> connection(Server& srv, tcp::socket s) {
  const auto self = srv.conns.insert(srv.conns.end(), &s);
  http::Session ses(srv.responses);
  asio::error_code ec;
  for (;;) {
    const std::span<std::byte> sp = ses.read_space();
    const std::size_t n = co_await s.async_read_some(asio::buffer(sp.data(), sp.size()),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;  // the peer closed, an error, or shutdown
    ses.received(n);
    Next next;
    do {
      next = ses.process();
      const std::span<const std::byte> out = ses.output();
      if (!out.empty()) {
        co_await asio::async_write(s, asio::buffer(out.data(), out.size()), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        ses.clear_output();
      }
    } while (next == Next::write);
    if (ec) break;
    if (next == Next::close) {
      if (ses.unread_input() && !srv.stopping) co_await linger(s, ses);
      break;
    }
  }
  srv.conns.erase(self);
  s.close(ec);
}

asio::awaitable<void> acceptor(Server& srv) {
  for (;;) {
    asio::error_code ec;
    tcp::socket s = co_await srv.acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || srv.stopping) break;
      // EMFILE and friends: drop this one (the benchmark never hits it)
      std::fprintf(stderr, "%s: accept: %s\n", kProg, ec.message().c_str());
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(srv.io, connection(srv, std::move(s)), asio::detached);
  }
}

int usage() {
  std::fprintf(stderr, "usage: %s --impl %s [ADDR]   (ADDR default 127.0.0.1:0)\n", kProg, kImpl);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  netpoll::bench::HttpServerArgs args;
  if (!netpoll::bench::parse_http_server_args(argc, argv, kProg, &args) || args.impl != kImpl) return usage();
  if (args.loops != 1) {
    std::fprintf(stderr, "%s: one loop only (B9 has no Asio server)\n", kProg);
    return 2;
  }
  const std::string& addr = args.addr;
  const std::size_t colon = addr.rfind(':');
  asio::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(colon == std::string::npos ? "" : addr.substr(0, colon), ec);
  if (ec || colon == std::string::npos) {
    std::fprintf(stderr, "%s: %s: expected a.b.c.d:port\n", kProg, addr.c_str());
    return 2;
  }
  const tcp::endpoint at(ip, static_cast<unsigned short>(std::atoi(addr.c_str() + colon + 1)));
  Server srv;
  srv.acceptor.open(at.protocol(), ec);
  if (!ec) srv.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) srv.acceptor.bind(at, ec);
  if (!ec) srv.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  const tcp::endpoint bound = ec ? at : srv.acceptor.local_endpoint(ec);
  if (ec) {
    std::fprintf(stderr, "%s: listen: %s\n", kProg, ec.message().c_str());
    return 1;
  }
  std::printf("listening on %s:%u\n", bound.address().to_string().c_str(), unsigned(bound.port()));
  std::fflush(stdout);
  srv.signals.async_wait([&srv](const asio::error_code& e, int) {
    if (e) return;
    srv.stopping = true;
    std::fprintf(stderr, "%s: terminated, closing %zu connection(s)\n", kProg, srv.conns.size());
    asio::error_code ignored;
    srv.acceptor.close(ignored);
    for (tcp::socket* s : srv.conns) s->close(ignored);  // their coroutines end with aborted I/O
  });
  asio::co_spawn(srv.io, acceptor(srv), asio::detached);
  srv.io.run();  // returns once the acceptor and every connection have ended
  return 0;
}
