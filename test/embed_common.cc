#include "test/embed_common.h"

// What runs on the Loop. The clients are in embed_clients.cc, over the OS's plain blocking
// sockets (embed_socket.h).
#include <array>
#include <span>
#include <string>
#include <utility>

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

}  // namespace netpoll::embed_test
