// What an echo server implementation (echo_servers.cc, echo_raw_uring.cc, the Asio server
// processes' proxy) shares with its EchoServer: internal to the echo servers.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>

#include "benchmarks/echo_servers.h"
#include "test/alloc_counter.h"

namespace netpoll::bench {

// What a server implementation shares with its EchoServer: the configuration, the result it
// fills in, the counters and the end condition. Server thread only, except where noted.
struct EchoServer::Shared {
  EchoServer& self;
  const ServerConfig cfg;
  ServerOut& out;
  double cpu0 = 0;
  std::uint64_t allocs0 = 0;
  std::int64_t sys0 = 0;

  void error(std::string e) {
    if (out.error.empty()) out.error = std::move(e);
  }
  // Publishes the port (0 with the reason when listening failed); the constructor returns.
  void listening(int port, std::string err = {}) {
    if (port == 0) error(std::move(err));
    std::lock_guard<std::mutex> g(self.mu_);
    self.port_ = port;
    self.listening_done_ = true;
    self.cv_.notify_all();
  }
  // How finish_after() reaches the running server; nullptr once it is ending. Set before
  // listening() and cleared before the loop it wakes goes away.
  void set_wake(std::function<void()> w) {
    std::lock_guard<std::mutex> g(self.mu_);
    self.wake_ = std::move(w);
  }
  // A server process's proxy: how accepted() and heap_bytes() reach it (nullptr: no more).
  void set_remote(std::shared_ptr<EchoServer::Remote> r) {
    std::lock_guard<std::mutex> g(self.mu_);
    self.remote_ = std::move(r);
  }
  // One more connection accepted and registered. True when it is the last one expected: the
  // server closes its listener and the measured span begins.
  bool accepted_one(std::int64_t syscalls_now) {
    self.accepted_.store(++out.accepted, std::memory_order_release);
    if (cfg.conns == 0 || out.accepted != cfg.conns) return false;
    begin_measure(syscalls_now);
    return true;
  }
  // A server process's final count (its proxy's; accepted_one is for the in-process servers).
  void publish_accepted(std::uint64_t n) { self.accepted_.store(n, std::memory_order_release); }
  std::uint64_t target() const noexcept {
    return cfg.conns ? cfg.conns : self.target_.load(std::memory_order_acquire);
  }
  // The run's end: every connection it was to serve has been accepted and closed.
  bool finished() const noexcept {
    const std::uint64_t t = target();
    return t != 0 && out.closed >= t;
  }
  void begin_measure(std::int64_t syscalls_now) {
    cpu0 = thread_cpu_ns();
    allocs0 = netpoll::testing::allocation_count();
    sys0 = syscalls_now;
  }
  void end_measure(std::int64_t syscalls_now) {
    out.cpu_ns = thread_cpu_ns() - cpu0;
    out.allocs = netpoll::testing::allocation_count() - allocs0;
    out.syscalls = syscalls_now < 0 ? -1 : syscalls_now - sys0;
  }
};

// The implementations outside echo_servers.cc: each runs one server on the calling thread
// (the EchoServer's), from listening to its end.
void serve_raw_uring(EchoServer::Shared& sh);                      // echo_raw_uring.cc
void serve_asio_process(EchoServer::Shared& sh, Impl impl);        // echo_asio_proxy.cc

}  // namespace netpoll::bench
