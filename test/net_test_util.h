// Helpers for suites over the net layer (netpoll/net/): kept apart from test_util so the poller and
// core suites do not depend on it.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <utility>

#include "netpoll/runtime/loop.h"
#include "netpoll/net/net.h"

namespace netpoll::testing {

// A Loop served by its own thread, for blocking-mode callers (Operation::wait).
class LoopThread {
 public:
  LoopThread() : thread_([this] { loop.run(); }) {}
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;
  ~LoopThread() {
    loop.stop();
    thread_.join();
  }
  net::Loop loop;

 private:
  std::thread thread_;
};

// Loop::shutdown's count of what is still running; the shutdown itself must not be refused.
inline std::size_t shutdown_left(net::Loop& loop, Timeout limit) {
  Result<std::size_t> r = loop.shutdown(limit);
  REQUIRE(r);
  return *r;
}

// Bounded waits for a condition another thread (or the Loop) brings about. The cap only turns
// a bug into a failure (false) instead of a hang; it is never what a test measures.
template <class F>
bool eventually(F done, std::chrono::seconds cap = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + cap;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}
// The same while stepping `loop` on this thread (which must not be running it otherwise).
template <class F>
bool step_until(net::Loop& loop, F done, std::chrono::seconds cap = std::chrono::seconds(10)) {
  const auto end = std::chrono::steady_clock::now() + cap;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    loop.run_once(Timeout::after(std::chrono::milliseconds(5)));
  }
  return true;
}

// A connected loopback TCP pair: client dialed to `ln`, server accepted from it. A Task, so a
// coroutine awaits it and a plain thread calls .wait() (its operations then block).
struct ConnPair {
  net::Conn client, server;
};
inline net::Task<ConnPair> tcp_conn_pair(net::Loop& loop, net::Listener& ln) {
  Result<net::Conn> c = co_await net::Dial(loop, "tcp", ln.Addr().to_string());
  REQUIRE(c);
  Result<net::Conn> s = co_await ln.Accept();
  REQUIRE(s);
  co_return ConnPair{std::move(*c), std::move(*s)};
}

// A pair on a fresh loopback listener, from a plain thread (a LoopThread serves `loop`).
inline ConnPair blocking_pair(net::Loop& loop) {
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  REQUIRE(ln);
  return tcp_conn_pair(loop, *ln).wait();
}

}  // namespace netpoll::testing
