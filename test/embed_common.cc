#include "test/embed_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <span>
#include <thread>
#include <utility>
#include <vector>

namespace netpoll::embed_test {

void EchoRecord::fail(std::string what) {
  if (errors++ == 0) first_error = std::move(what);
}

// --- server side (runs on the Loop, i.e. inside whichever host steps it) ----------------------

namespace {
net::Task<void> serve_echo(net::Conn c, EchoRecord& rec) {
  // Smaller than the client's largest chunk, so one chunk takes several Read/Write rounds and
  // the short-read ("drained") path and the full-buffer path both run.
  std::array<std::byte, 1500> buf;
  for (;;) {
    Result<std::size_t> n = co_await c.Read(std::span<std::byte>(buf));
    if (!n) {
      rec.fail("server Read: " + n.error().message());
      co_return;
    }
    if (*n == 0) break;
    Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(buf.data(), *n));
    if (!w || *w != *n) {
      rec.fail("server Write: " + (w ? std::string("short") : w.error().message()));
      co_return;
    }
    rec.echoed += *n;
  }
  ++rec.finished;
  (void)c.Close();
}
}  // namespace

net::Task<void> echo_server(net::Loop& loop, net::Listener& ln, int expected, EchoRecord& rec) {
  for (int i = 0; i < expected; ++i) {
    Result<net::Conn> c = co_await ln.Accept();
    if (!c) {
      rec.fail("Accept: " + c.error().message());
      co_return;
    }
    ++rec.accepted;
    loop.spawn(serve_echo(std::move(*c), rec));
  }
}

net::Task<void> sleeper(net::Loop& loop, Clock::duration d, SleepRecord& rec) {
  const Clock::time_point t0 = Clock::now();
  co_await net::sleep_for(loop, d);
  rec.elapsed = Clock::now() - t0;
  rec.done = true;
}

net::Task<void> deadline_server(net::Listener& ln, Clock::duration d, DeadlineRecord& rec) {
  Result<net::Conn> c = co_await ln.Accept();
  if (!c) {
    rec.first_error = "Accept: " + c.error().message();
    co_return;
  }
  rec.accepted = true;
  std::array<char, 16> buf;
  const Clock::time_point t0 = Clock::now();
  if (d != Clock::duration::zero()) {
    if (std::error_code ec = c->SetReadDeadline(t0 + d)) {
      rec.first_error = "SetReadDeadline: " + ec.message();
      co_return;
    }
  }
  rec.conn.store(&*c, std::memory_order_release);
  Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
  rec.read_returned = Clock::now();
  rec.elapsed = rec.read_returned - t0;
  rec.read_error = n ? std::error_code() : n.error();
  if (n) {
    rec.first_error = "Read returned " + std::to_string(*n) + " bytes from a silent client";
    co_return;
  }
  (void)c->SetReadDeadline(net::TimePoint{});
  if (!(co_await c->Write(std::string_view("done")))) {
    rec.first_error = "Write after the deadline failed";
    co_return;
  }
  std::string got;
  while (got.size() < 3) {
    Result<std::size_t> r = co_await c->Read(std::span<char>(buf));
    if (!r || *r == 0) break;
    got.append(buf.data(), *r);
  }
  rec.read_after_clear_ok = got == "bye";
  if (!rec.read_after_clear_ok) rec.first_error = "after clearing the deadline read \"" + got + "\"";
  (void)c->Close();
  rec.done = true;
}

// --- clients (plain threads, plain blocking sockets) ------------------------------------------

namespace {
// A connected blocking TCP socket whose every call times out after kClientTimeout; -1 on error
// (`err` says why).
int connect_loopback(std::uint16_t port, std::string& err) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  timeval tv{};
  tv.tv_sec = kClientTimeout.count();
  // SO_SNDTIMEO also bounds connect(2) on Linux.
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    err = std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// send(MSG_NOSIGNAL): a server that dies must fail the test, not SIGPIPE the process.
bool send_all(int fd, const void* p, std::size_t n, std::string& err) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = std::string("send: ") + (w < 0 ? std::strerror(errno) : "returned 0");
      return false;
    }
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; false on error, timeout or early end of stream.
bool recv_all(int fd, void* p, std::size_t n, std::string& err) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::recv(fd, c, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      err = r == 0 ? "recv: early end of stream"
                   : std::string("recv: ") + std::strerror(errno) +
                         (errno == EAGAIN ? " (client timeout: the server stopped answering)" : "");
      return false;
    }
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// After our half-close the server must close too: the next recv is 0.
bool expect_eof(int fd, std::string& err) {
  char b;
  for (;;) {
    const ssize_t r = ::recv(fd, &b, 1, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return true;
    err = r > 0 ? "unexpected byte after the echo" : std::string("recv at end: ") + std::strerror(errno);
    return false;
  }
}
}  // namespace

std::string echo_client(std::uint16_t port, int conns, std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out, in;
  for (int i = 0; i < conns; ++i) {
    std::string err;
    const int fd = connect_loopback(port, err);
    if (fd < 0) return err;
    std::size_t sent = 0;
    bool ok = true;
    while (ok && sent < bytes) {
      // 1..8 KiB: crosses the server's 1500-byte buffer both ways.
      const std::size_t chunk = std::min<std::size_t>(bytes - sent, 1 + rng() % 8192);
      out.resize(chunk);
      in.assign(chunk, 0);
      for (auto& b : out) b = static_cast<unsigned char>(rng());
      ok = send_all(fd, out.data(), chunk, err) && recv_all(fd, in.data(), chunk, err);
      if (ok && in != out) {
        err = "echo differs at byte " + std::to_string(sent);
        ok = false;
      }
      sent += chunk;
    }
    if (ok && ::shutdown(fd, SHUT_WR) != 0) {
      err = std::string("shutdown: ") + std::strerror(errno);
      ok = false;
    }
    if (ok) ok = expect_eof(fd, err);
    ::close(fd);
    if (!ok) return "connection " + std::to_string(i) + ": " + err;
  }
  return "";
}

std::string silent_client(std::uint16_t port) {
  std::string err;
  const int fd = connect_loopback(port, err);
  if (fd < 0) return err;
  char got[4];
  const bool ok = recv_all(fd, got, sizeof got, err) &&
                  (std::memcmp(got, "done", 4) == 0 || (err = "expected \"done\"", false)) &&
                  send_all(fd, "bye", 3, err) && expect_eof(fd, err);
  ::close(fd);
  return ok ? "" : err;
}

// --- an idle host with timers armed ------------------------------------------------------------

namespace {
net::Task<void> park_with_far_deadline(net::Conn c, int& parked, int& ended) {
  (void)c.SetReadDeadline(Clock::now() + std::chrono::hours(1));
  ++parked;
  char b[1];
  (void)co_await c.Read(std::span<char>(b, 1));
  ++ended;
}
net::Task<void> accept_and_park(net::Loop& loop, net::Listener& ln, int& parked, int& ended) {
  Result<net::Conn> c = co_await ln.Accept();
  if (c) loop.spawn(park_with_far_deadline(std::move(*c), parked, ended));
}
net::Task<void> dial_and_park(net::Loop& loop, std::string addr, int& parked, int& ended) {
  Result<net::Conn> c = co_await net::Dial(loop, "tcp", addr);
  if (c) loop.spawn(park_with_far_deadline(std::move(*c), parked, ended));
}
}  // namespace

void spawn_parked_pair(net::Loop& loop, net::Listener& ln, int& parked, int& ended) {
  loop.spawn(accept_and_park(loop, ln, parked, ended));
  loop.spawn(dial_and_park(loop, ln.Addr().to_string(), parked, ended));
}

double thread_cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

std::string burst_close_client(std::uint16_t port, int conns, const std::atomic<int>& accepted,
                               std::atomic<bool>& closed, const std::function<void()>& before_close) {
  std::vector<int> fds;
  std::string err;
  for (int i = 0; i < conns && err.empty(); ++i) {
    const int fd = connect_loopback(port, err);
    if (fd >= 0) fds.push_back(fd);
  }
  const auto give_up = Clock::now() + kClientTimeout;
  while (err.empty() && accepted.load(std::memory_order_acquire) < conns) {
    if (Clock::now() >= give_up) err = "the server accepted only " + std::to_string(accepted.load()) + " connections";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (err.empty() && before_close) before_close();
  for (int fd : fds) ::close(fd);
  closed.store(true, std::memory_order_release);
  return err;
}

}  // namespace netpoll::embed_test
