// Drives examples/echo_server (or a hosted variant: NETPOLL_ECHO_SERVER) as a separate process
// over real TCP sockets.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "examples/test_process.h"

using namespace netpoll::examples::testing;

namespace {

// Runfiles path: Bazel runs a test in its workspace's runfiles root. The same cases run
// against the hosted variants (echo_server_uv, _glib, _asio), named by NETPOLL_ECHO_SERVER.
const std::string kServer = [] {
  const char* s = std::getenv("NETPOLL_ECHO_SERVER");
  return std::string(s && *s ? s : "examples/echo_server");
}();

struct ClientResult {
  std::string error;  // empty: everything echoed intact, then EOF
  std::size_t sent = 0;
};

// One client: a second thread sends `size` random bytes in random-size writes and then
// half-closes, while this thread reads the echo in random-size reads until EOF. Writing and
// reading at once matters: a client that wrote everything first would deadlock against the
// echo once both directions' socket buffers fill.
ClientResult run_client(const std::string& addr, unsigned seed) {
  ClientResult res;
  std::mt19937 rng(seed);
  const std::size_t size = 160 * 1024 + rng() % (96 * 1024);
  std::string payload(size, '\0');
  for (char& c : payload) c = static_cast<char>(rng());
  Fd s = dial(addr);
  if (s.get() < 0) {
    res.error = std::string("connect: ") + std::strerror(errno);
    return res;
  }
  bool send_ok = true, shutdown_ok = false;
  std::thread writer([&, seed] {
    std::mt19937 wrng(seed ^ 0x9e3779b9u);
    for (std::size_t off = 0; off < payload.size();) {
      const std::size_t n = std::min<std::size_t>(payload.size() - off, 1 + wrng() % 65536);
      if (!send_all(s.get(), std::string_view(payload).substr(off, n))) {
        send_ok = false;
        return;
      }
      off += n;
    }
    shutdown_ok = ::shutdown(s.get(), SHUT_WR) == 0;
  });
  std::string got;
  got.reserve(size);
  bool eof = false;
  for (;;) {
    const long n = recv_once(s.get(), got, 1 + rng() % 65536);
    if (n < 0) {
      res.error = std::string("recv: ") + std::strerror(errno);
      break;
    }
    if (n == 0) {
      eof = true;
      break;
    }
    if (got.size() > size) break;  // more than was sent
  }
  writer.join();
  res.sent = size;
  if (!res.error.empty()) return res;
  if (!send_ok) res.error = "send failed";
  else if (!shutdown_ok) res.error = "shutdown(SHUT_WR) failed";
  else if (!eof) res.error = "no EOF after the echo";
  else if (got.size() != size)
    res.error = "echoed " + std::to_string(got.size()) + " bytes of " + std::to_string(size);
  else if (got != payload) {
    const auto mis = std::mismatch(got.begin(), got.end(), payload.begin());
    res.error = "echo differs at byte " + std::to_string(mis.first - got.begin());
  }
  return res;
}

}  // namespace

TEST_CASE(
    "echo_server: concurrent clients get random payloads back byte for byte, then EOF; SIGTERM "
    "exits 0") {
  ServerProcess srv = ServerProcess::start(kServer);
  constexpr int kClients = 8;
  std::vector<ClientResult> results(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i)
    clients.emplace_back(
        [&, i] { results[i] = run_client(srv.addr(), 1000u + static_cast<unsigned>(i)); });
  for (std::thread& t : clients) t.join();
  std::size_t total = 0;
  for (int i = 0; i < kClients; ++i) {
    CHECK_MESSAGE(results[i].error.empty(), "client ", i, ": ", results[i].error);
    total += results[i].sent;
  }
  CHECK(total > (std::size_t{1} << 20));

  const int status = srv.stop(SIGTERM);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
  CHECK(srv.rest_of_stdout().empty());  // exactly one line on stdout
}

TEST_CASE(
    "echo_server: many connections open at once; SIGINT closes the remaining ones and exits 0") {
  ServerProcess srv = ServerProcess::start(kServer);
  constexpr int kConns = 100;
  std::vector<Fd> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(dial(srv.addr()));
    REQUIRE_MESSAGE(conns.back().get() >= 0, "connect ", i, ": ", std::strerror(errno));
  }
  // Every connection gets its message before any echo is read, and the echoes are read in
  // reverse order: each connection is served while all the others are open.
  auto message = [](int i) { return "message " + std::to_string(i) + "\n"; };
  for (int i = 0; i < kConns; ++i) REQUIRE(send_all(conns[i].get(), message(i)));
  for (int i = kConns - 1; i >= 0; --i) {
    std::string got;
    recv_some(conns[i].get(), message(i).size(), got);
    CHECK(got == message(i));
  }
  // Half of them half-close: the server finishes and closes those (EOF, nothing extra).
  for (int i = 0; i < kConns / 2; ++i) {
    REQUIRE(::shutdown(conns[i].get(), SHUT_WR) == 0);
    bool eof = false;
    CHECK(recv_to_eof(conns[i].get(), &eof).empty());
    CHECK(eof);
    conns[i].reset();
  }
  // The other half are still open (idle, parked in Read) when the signal arrives.
  const int status = srv.stop(SIGINT);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
  CHECK(srv.stderr_text().find("closing " + std::to_string(kConns - kConns / 2) +
                               " connection(s)") != std::string::npos);
  for (int i = kConns / 2; i < kConns; ++i) {
    bool eof = false;
    CHECK(recv_to_eof(conns[i].get(), &eof).empty());
    CHECK(eof);
  }
}

TEST_CASE("echo_server: every byte after a TCP urgent byte is echoed (the server never waits on queued bytes)") {
  // The server is stopped while the clients connect and send "abc", "X" out of band, "def":
  // when it resumes, everything is already queued behind one edge. Linux ends the server's
  // first read at the urgent mark ("abc"); the rest must be read without a further edge. The
  // urgent byte itself is out of band (SO_OOBINLINE is off), so the echo is "abcdef".
  ServerProcess srv = ServerProcess::start(kServer);
  REQUIRE(::kill(srv.pid(), SIGSTOP) == 0);
  constexpr int kConns = 4;
  std::vector<Fd> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(dial(srv.addr()));  // the kernel completes the handshake meanwhile
    const int fd = conns.back().get();
    REQUIRE_MESSAGE(fd >= 0, "connect ", i, ": ", std::strerror(errno));
    // A failure guard only: a server parked on queued bytes shows as a short echo.
    const timeval tv{5, 0};
    REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    REQUIRE(send_all(fd, "abc"));
    REQUIRE(::send(fd, "X", 1, MSG_OOB | MSG_NOSIGNAL) == 1);
    REQUIRE(send_all(fd, "def"));
  }
  // Every byte acknowledged (TIOCOUTQ 0): all of it sits in the server's receive queues.
  for (const Fd& c : conns)
    for (int n = -1, tries = 0; tries < 5000; ++tries) {
      REQUIRE(::ioctl(c.get(), TIOCOUTQ, &n) == 0);
      if (n == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  REQUIRE(::kill(srv.pid(), SIGCONT) == 0);
  for (int i = 0; i < kConns; ++i) {
    CAPTURE(i);
    std::string got;
    recv_some(conns[i].get(), 6, got);
    CHECK(got == "abcdef");
    // The connection goes on normally, and half-closing it ends the echo.
    REQUIRE(send_all(conns[i].get(), "more"));
    got.clear();
    recv_some(conns[i].get(), 4, got);
    CHECK(got == "more");
    REQUIRE(::shutdown(conns[i].get(), SHUT_WR) == 0);
    bool eof = false;
    CHECK(recv_to_eof(conns[i].get(), &eof).empty());
    CHECK(eof);
  }
  const int status = srv.stop(SIGTERM);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
}

TEST_CASE("echo_server: command-line and listen errors exit non-zero without a listening line") {
  Captured usage = run_capture({kServer, "a", "b"});
  CHECK_MESSAGE((WIFEXITED(usage.status) && WEXITSTATUS(usage.status) == 2),
                describe_status(usage.status));
  CHECK(usage.out.empty());
  CHECK(usage.err.find("usage:") != std::string::npos);

  Captured bad_port = run_capture({kServer, "127.0.0.1:99999"});
  CHECK_MESSAGE((WIFEXITED(bad_port.status) && WEXITSTATUS(bad_port.status) == 1),
                describe_status(bad_port.status));
  CHECK(bad_port.out.empty());
  CHECK(bad_port.err.find("listen 127.0.0.1:99999") != std::string::npos);

  // The address of a running server is taken.
  ServerProcess srv = ServerProcess::start(kServer);
  Captured in_use = run_capture({kServer, srv.addr()});
  CHECK_MESSAGE((WIFEXITED(in_use.status) && WEXITSTATUS(in_use.status) == 1),
                describe_status(in_use.status));
  CHECK(in_use.out.empty());
  CHECK(in_use.err.find(std::strerror(EADDRINUSE)) != std::string::npos);
  const int status = srv.stop(SIGTERM);
  CHECK_MESSAGE(exited_zero(status), describe_status(status));
}
